"""Files as seekable byte streams for the incremental reader: local files and SFTP alike.

An `Opener` opens one file for one read and says what its handle knows of it (size,
inode, mtime); `MeteredStream` turns the open file into the raw stream the parsers read,
counting every byte it fetches and fetching the file's first bytes only once.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from training_check.sources.errors import SourceError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

HEAD_BYTES = 4096  # the prefix whose hash tells a file from its replacement; always kept


class RawFile(Protocol):
    """What is needed of an open file: a local binary file or a `paramiko.SFTPFile`."""

    def read(self, size: int, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> object: ...


@dataclass(frozen=True)
class OpenedFile:
    """An open file and what its handle says of it (stat of the handle, not of the path)."""

    file: RawFile
    size: int
    inode: int | None  # None where unknown (SFTP does not tell)
    mtime: float | None


class Opener(Protocol):
    """Opens one file for a read; `name` names it in messages (a path, `host:path`)."""

    name: str

    def open(self) -> AbstractContextManager[OpenedFile]:
        """The open file; SourceError (or OSError) when it cannot be opened."""
        ...


class LocalFile:
    """An `Opener` for a file on this machine."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = str(path)

    @contextmanager
    def open(self) -> Iterator[OpenedFile]:
        with open_local(self.path) as file:
            stat = os.fstat(file.fileno())
            yield OpenedFile(file, stat.st_size, stat.st_ino or None, stat.st_mtime)


def open_local(path: Path) -> BufferedReader:
    """`path` opened for reading bytes; SourceError, naming the file and the fix, when it cannot be."""
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


class MeteredStream(io.RawIOBase):
    """The open file as a raw stream that counts what it fetches and keeps the first bytes.

    The first bytes are needed up to four times a read (identity, format, CSV header,
    the next identity): they are fetched once and served from `_head` after that.
    """

    def __init__(self, opened: OpenedFile) -> None:
        super().__init__()
        self._opened = opened
        self._pos = 0
        self._file_pos = 0  # where the file's own position is: seek only when it differs
        self._head = bytearray()
        self.fetched = 0  # bytes transferred from the file

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._opened.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos < len(self._head):
            data = bytes(self._head[self._pos : self._pos + len(view)])
        else:
            data = self._fetch(len(view), keep=HEAD_BYTES)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def head(self, size: int) -> bytes:
        """The file's first `size` bytes (fewer if it is shorter), fetched at most once."""
        where = self._pos
        while len(self._head) < size:
            self._pos = len(self._head)
            if not self._fetch(size - len(self._head), keep=size):
                break
        self._pos = where
        return bytes(self._head[:size])

    def _fetch(self, size: int, keep: int) -> bytes:
        if self._file_pos != self._pos:
            self._opened.file.seek(self._pos)
        data = self._opened.file.read(size)
        self.fetched += len(data)
        self._file_pos = self._pos + len(data)
        if self._pos == len(self._head) < keep:  # contiguous with the kept head: extend it
            self._head += data[: keep - len(self._head)]
        return data
