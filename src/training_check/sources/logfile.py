"""Read a local metrics file (JSON lines, CSV or a plain-text training log) into a History.

A format is a function from a path to a `History`, listed in `READERS`; `EXTENSIONS`
maps file extensions to formats. Adding a format (say `.wandb`) is one entry in each.
The line parsers live in `tabular` (JSON lines, CSV) and `text` (training logs).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterator
from io import BufferedReader
from pathlib import Path

from training_check.model import History
from training_check.sources.errors import SourceError
from training_check.sources.lines import BadLine, LineParser
from training_check.sources.rows import STEP_KEYS, HistoryBuilder
from training_check.sources.tabular import CsvParser, JsonlParser
from training_check.sources.text import TextParser

MAX_LINE = 1 << 20  # 1 MiB: a longer line is skipped in pieces, never held whole
INCOMPLETE = "incomplete last line (still being written?)"

Reader = Callable[[Path], History]


def _line_reader(parser: Callable[[str], LineParser]) -> Reader:
    def read(path: Path) -> History:
        return read_lines(path, parser(str(path)))

    return read


READERS: dict[str, Reader] = {
    "jsonl": _line_reader(JsonlParser),
    "csv": _line_reader(CsvParser),
    "text": _line_reader(TextParser),
}
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".log": "text",
    ".txt": "text",
    ".out": "text",
}
_STEPISH_COLUMNS = frozenset({*STEP_KEYS, "epoch"})


def read_history(path: str | Path, fmt: str | None = None) -> History:
    """Read the metrics file at `path`; `fmt` ("jsonl", "csv", "text") overrides detection.

    Raises SourceError, naming the file and the problem, when nothing usable can be
    read; rows it cannot use are skipped and counted in the History instead.
    """
    path = Path(path)
    fmt = fmt or format_of(path)
    reader = READERS.get(fmt)
    if reader is None:
        raise SourceError(f"unknown format {fmt!r}", f"use one of: {', '.join(READERS)}")
    return reader(path)


def format_of(path: Path) -> str:
    """The format the extension names, else the one the first non-empty line suggests."""
    known = EXTENSIONS.get(path.suffix.lower())
    if known is not None:
        return known
    with _open(path) as file:
        head = file.read(64 * 1024).decode("utf-8", "replace")
    first = next((line.strip() for line in head.splitlines() if line.strip()), "")
    first = first.lstrip("\ufeff")
    if re.match(r'\{\s*"', first):
        return "jsonl"
    cells = {cell.strip().strip('"').lower() for cell in first.split(",")}
    return "csv" if "," in first and cells & _STEPISH_COLUMNS else "text"


def read_lines(path: Path, parser: LineParser) -> History:
    """Feed the lines of `path` to `parser`, counting what it cannot use."""
    out = HistoryBuilder()
    lines = blank = 0
    with _open(path) as file:
        if file.peek(2)[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            tip = f"convert it first, e.g. iconv -f UTF-16 -t UTF-8 {path}"
            raise SourceError(f"{path} is UTF-16 text; only UTF-8 can be read", tip)
        try:
            for lines, (raw, complete) in enumerate(_raw_lines(file), start=1):
                out.where = f"line {lines}"
                blank += _read_line(raw, complete, parser, out)
        except OSError as error:
            raise SourceError(f"{path}: read failed ({error.strerror or error})") from error
    if lines == blank:
        raise SourceError(f"{path} is empty", "the run may not have logged anything yet")
    if out.rows_read == 0:
        raise parser.no_rows(lines, out.first_problem)
    return out.build()


def _read_line(raw: bytes | None, complete: bool, parser: LineParser, out: HistoryBuilder) -> bool:
    """Handle one raw line; True when it was blank."""
    if raw is None:
        out.skip(f"longer than {MAX_LINE >> 20} MiB")
        return False
    try:
        text = raw.decode("utf-8").lstrip("\ufeff").strip()
    except UnicodeDecodeError:
        out.skip("not valid UTF-8 text" if complete else INCOMPLETE)
        return False
    if not text:
        return True
    try:
        parser.parse(text, out)
    except BadLine as bad:
        # A last line without its newline is most likely still being written.
        out.skip(bad.reason if complete else INCOMPLETE, None if not complete else bad.example)
    return False


def _raw_lines(file: BufferedReader) -> Iterator[tuple[bytes | None, bool]]:
    """(line, ends with a newline) pairs; (None, True) for a line longer than MAX_LINE."""
    while line := file.readline(MAX_LINE + 1):
        if line.endswith(b"\n") or len(line) <= MAX_LINE:
            yield line, line.endswith(b"\n")
            continue
        while line and not line.endswith(b"\n"):  # drain the rest, 1 MiB at a time
            line = file.readline(MAX_LINE)
        yield None, True


def _open(path: Path) -> BufferedReader:
    try:
        return path.open("rb")
    except FileNotFoundError as error:
        raise SourceError(f"{path}: no such file", "check the path") from error
    except IsADirectoryError as error:
        tip = "give the metrics file inside it (e.g. metrics.csv or history.jsonl)"
        raise SourceError(f"{path} is a directory", tip) from error
    except PermissionError as error:
        raise SourceError(f"{path}: permission denied", "check the file's permissions") from error
    except OSError as error:
        raise SourceError(f"{path}: cannot open ({error.strerror or error})") from error
