"""Read a metrics file from where the last read ended: local files and SFTP alike.

`read_new(opener, fmt, cursor)` opens the file through `opener` (a seekable binary stream:
a local file or a `paramiko.SFTPFile`), checks that it is still the file the cursor was
made on, and hands the bytes after the cursor's offset to the format's `StreamParser`,
which consumes only complete records: a line still being written stays for the next read.

A file is told apart from its replacement by its inode (where the stream tells it: not
over SFTP) and the hash of its first bytes (up to 4 KiB); size and mtime are not enough,
as a truncated and rewritten log soon outgrows the old offset again. The first bytes are
fetched once per read and reused for the format sniffing and a CSV header.

Formats live in `FORMATS`, one line each: a `StreamParser` factory and its extensions.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol

from training_check.model import History
from training_check.sources.errors import SourceError
from training_check.sources.interface import Cursor, Fetched
from training_check.sources.lines import MAX_LINE, LineParser, read_line
from training_check.sources.rows import STEP_KEYS, HistoryBuilder
from training_check.sources.streams import HEAD_BYTES, LocalFile, MeteredStream, OpenedFile, Opener
from training_check.sources.tabular import CsvParser, JsonlParser
from training_check.sources.text import TextParser
from training_check.sources.wandb_file import WandbFileParser
from training_check.sources.wandb_log import FILE_HEADER

SNIFF_BYTES = 64 * 1024  # how far the format sniffer looks for a first line
CHUNK = 1 << 20  # read size: SFTP pipelines it, memory stays bounded
_STEPISH_COLUMNS = frozenset({*STEP_KEYS, "epoch"})  # a CSV header names one of them


class StreamParser(Protocol):
    """Parses one format from a byte offset; the offset after its last complete record."""

    def parse(self, stream: BinaryIO, start: int, builder: HistoryBuilder) -> int:
        """Add the rows of the complete records from `start` (0 or a returned offset)."""
        ...


class LineStream:
    """The `StreamParser` of the line formats: each complete line to a `LineParser`.

    `final` marks a finished file: its last line counts even without a newline.
    `header` re-reads a CSV header when reading starts mid-file.
    """

    def __init__(self, make: Callable[[str], LineParser], name: str, *, header: bool = False) -> None:
        self.parser = make(name)
        self.name = name
        self.header = header
        self.final = False
        self.lines = self.blank = 0

    def parse(self, stream: BinaryIO, start: int, builder: HistoryBuilder) -> int:
        if start == 0:
            _refuse_utf16(stream, self.name)
        elif self.header:
            self._read_header(stream, start)
        stream.seek(start)
        end = start
        for raw, length, complete in _lines(stream):
            if not complete and not self.final:
                break  # still being written: the next read starts with this line
            self.lines += 1
            builder.where = f"line {self.lines}" if start == 0 else f"byte {end}"
            self.blank += read_line(raw, complete, self.parser, builder)
            end += length
        return end

    def _read_header(self, stream: BinaryIO, start: int) -> None:
        """Feed the first non-blank line (the header) to the parser again."""
        stream.seek(0)
        seen = 0
        for raw, length, complete in _lines(stream):
            seen += length
            if seen > start or not read_line(raw, complete, self.parser, HistoryBuilder()):
                return

    def check_whole(self, builder: HistoryBuilder) -> None:
        """The errors of a whole file that gave nothing: empty, or no metric row at all."""
        if self.lines == self.blank:
            raise SourceError(f"{self.name} is empty", "the run may not have logged anything yet")
        if builder.rows_read == 0:
            raise self.parser.no_rows(self.lines, builder.first_problem)


@dataclass(frozen=True)
class Format:
    """A file format: its parser factory (given the file's name), its extensions, and
    what its messages call one record."""

    parser: Callable[[str], StreamParser]
    extensions: tuple[str, ...]
    unit: str = "line"


FORMATS: dict[str, Format] = {
    "jsonl": Format(partial(LineStream, JsonlParser), (".jsonl", ".ndjson", ".json")),
    "csv": Format(partial(LineStream, CsvParser, header=True), (".csv",)),
    "text": Format(partial(LineStream, TextParser), (".log", ".txt", ".out")),
    "wandb": Format(WandbFileParser, (".wandb",), unit="record"),
}


def read_new(opener: Opener, fmt: str | None, cursor: Cursor | None) -> Fetched:
    """The rows after `cursor` (all for None), the cursor after them, and what was read.

    `fmt` names a `FORMATS` entry; None detects it (extension, else the first line).
    `reset` is set when the file was truncated or replaced: the rows are then all of
    the new file's, and any earlier history is void. Raises SourceError for a file that
    cannot be read as its format, OSError for I/O failures (the caller knows which
    of them mean "unreachable").
    """
    return _read(opener, fmt, cursor, final=False)[0]


def read_history(path: str | Path, fmt: str | None = None) -> History:
    """The whole local file at `path`, as `replay` needs it (a torn last line counts too).

    Raises SourceError, naming the file and the problem, when nothing usable can be read.
    """
    try:
        fetched, parser, builder = _read(LocalFile(path), fmt, None, final=True)
    except OSError as error:
        raise SourceError(f"{path}: read failed ({error.strerror or error})") from error
    if isinstance(parser, LineStream):
        parser.check_whole(builder)
    elif builder.rows_read == 0:
        raise SourceError(f"{path}: no metric rows found", "the run may not have logged a metric yet")
    return fetched.new


def _read(
    opener: Opener, fmt: str | None, cursor: Cursor | None, *, final: bool
) -> tuple[Fetched, StreamParser, HistoryBuilder]:
    with opener.open() as opened:
        stream = MeteredStream(opened)
        start, why = _resume_point(stream, opened, cursor)
        fmt = fmt or format_by_extension(opener.name) or sniff_format(stream.head(SNIFF_BYTES))
        spec = _format(fmt)
        parser = spec.parser(opener.name)
        if isinstance(parser, LineStream):
            parser.final = final
        builder = HistoryBuilder(spec.unit)
        if start > 0 and cursor is not None:  # rows without a step continue the count
            builder.last_step = cursor.last_step
        end = parser.parse(io.BufferedReader(stream, CHUNK), start, builder)
        identity = _identity(opened.inode, stream.head(min(HEAD_BYTES, end)))
    fetched = Fetched(
        new=builder.build(),
        cursor=Cursor(builder.last_step, end, identity),
        reset=why is not None,
        heartbeat=opened.mtime,
        transferred_bytes=stream.fetched,
        notes={"reset": why} if why else {},
    )
    return fetched, parser, builder


def _format(fmt: str) -> Format:
    known = FORMATS.get(fmt)
    if known is None:
        raise SourceError(f"unknown format {fmt!r}", f"use one of: {', '.join(FORMATS)}")
    return known


def _resume_point(stream: MeteredStream, opened: OpenedFile, cursor: Cursor | None) -> tuple[int, str | None]:
    """Where to start reading, and why the earlier history is void (None if it is not)."""
    if cursor is None or cursor.offset == 0:
        return 0, None
    if opened.size < cursor.offset:
        return 0, f"the file was truncated ({opened.size} bytes, {cursor.offset} read before)"
    inode, length, digest = _split_identity(cursor.identity)
    if length is None:
        return 0, "the cursor was not made on this file"
    if inode is not None and opened.inode is not None and inode != opened.inode:
        return 0, "the file was replaced (another inode)"
    if _digest(stream.head(length)) != digest:
        return 0, "the file was replaced or rewritten (its first bytes changed)"
    return cursor.offset, None


def _identity(inode: int | None, head: bytes) -> str:
    """`inode:length:hash` of the file's first bytes (inode empty where unknown)."""
    return f"{'' if inode is None else inode}:{len(head)}:{_digest(head)}"


def _digest(head: bytes) -> str:
    return hashlib.sha256(head).hexdigest()[:32]


def _split_identity(identity: str) -> tuple[int | None, int | None, str]:
    """The parts of an `_identity`; length None when `identity` is not one."""
    parts = identity.split(":")
    if len(parts) != 3 or not parts[1].isdigit() or not (parts[0].isdigit() or parts[0] == ""):
        return None, None, ""
    return (int(parts[0]) if parts[0] else None), int(parts[1]), parts[2]


def format_by_extension(name: str) -> str | None:
    """The format whose extension `name` (a path, local or remote) has, if any."""
    suffix = PurePosixPath(name).suffix.lower()
    return next((fmt for fmt, spec in FORMATS.items() if suffix in spec.extensions), None)


def sniff_format(head: bytes) -> str:
    """The format the first non-empty line of `head` (the file's first bytes) suggests."""
    if head.startswith(FILE_HEADER[:4]):  # a W&B offline log, whatever its name
        return "wandb"
    text = head.decode("utf-8", "replace")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "").lstrip("\ufeff")
    if re.match(r'\{\s*"', first):
        return "jsonl"
    cells = {cell.strip().strip('"').lower() for cell in first.split(",")}
    return "csv" if "," in first and cells & _STEPISH_COLUMNS else "text"


def _lines(file: BinaryIO) -> Iterator[tuple[bytes | None, int, bool]]:
    """(line, its length in bytes, ends with a newline); None for a line over MAX_LINE.

    A longer line is read in 1 MiB pieces and dropped, so memory stays bounded.
    """
    while line := file.readline(MAX_LINE + 1):
        length, complete = len(line), line.endswith(b"\n")
        if complete or length <= MAX_LINE:
            yield line, length, complete
            continue
        while line and not complete:
            line = file.readline(MAX_LINE)
            length, complete = length + len(line), line.endswith(b"\n")
        yield None, length, complete


def _refuse_utf16(stream: BinaryIO, name: str) -> None:
    stream.seek(0)
    if stream.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        tip = f"convert it first, e.g. iconv -f UTF-16 -t UTF-8 {name}"
        raise SourceError(f"{name} is UTF-16 text; only UTF-8 can be read", tip)
