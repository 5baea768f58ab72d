"""A run's metrics file (JSON lines, CSV, text log) as a `Source`: local, or over SFTP.

Each fetch reads only the bytes after the cursor (see `incremental`). A remote file is
read through the SSH transport's SFTP session, so the cycle's one connection per host
serves both the stop commands and the metric reads.
"""

from __future__ import annotations

import errno
import io
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, runtime_checkable

import paramiko

from ..transport import Transport, TransportError
from .errors import SourceError
from .incremental import read_new
from .interface import Cursor, Fetched, SourceUnreachable
from .streams import LocalFile, OpenedFile, Opener

_REQUEST = paramiko.SFTPFile.MAX_REQUEST_SIZE  # 32 KiB: one SFTP read request at most
# SFTP status codes that are about the file, not the connection.
_FILE_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EISDIR, errno.ENOTDIR})


@runtime_checkable
class SFTPHost(Protocol):
    """A transport that also reads files (`SSHTransport`): its SFTP session, opened once."""

    name: str

    def sftp(self) -> paramiko.SFTPClient:
        """The open SFTP session; TransportError when the host cannot be reached."""
        ...


class LogSource:
    """The metrics file at `path`: on this machine (`transport` None or local) or on the
    SSH host of `transport`, read over SFTP. `fmt` overrides the format detection."""

    def __init__(self, path: str | Path, transport: Transport | None, fmt: str | None = None) -> None:
        self.path = str(path)
        self.fmt = fmt
        remote = transport if isinstance(transport, SFTPHost) else None
        self.name = "sftp" if remote else "local"
        self._opener: Opener = SFTPFileOpener(remote, self.path) if remote else LocalFile(path)

    def fetch(self, cursor: Cursor | None) -> Fetched:
        """The rows after `cursor`; SourceUnreachable when the host cannot be reached."""
        try:
            return read_new(self._opener, self.fmt, cursor)
        except TransportError as error:  # connecting failed: the host, its keys or ours
            raise SourceUnreachable(f"{self._opener.name}: {error}", error.tip) from error
        except OSError as error:
            raise self._os_error(error) from error
        except (paramiko.SSHException, paramiko.SFTPError, EOFError) as error:
            raise SourceUnreachable(f"{self._opener.name}: the SSH connection failed ({error})") from error

    def _os_error(self, error: OSError) -> SourceError:
        name = self._opener.name
        if error.errno == errno.ENOENT:
            return SourceError(f"{name}: no such file", "check the path (and the host) in the watch list")
        if error.errno in (errno.EACCES, errno.EPERM):
            return SourceError(f"{name}: permission denied", "the login user must be able to read the file")
        if error.errno in _FILE_ERRNOS or (self.name == "sftp" and error.errno is None):
            # SFTP's generic "Failure" status carries no errno: a problem of the file.
            return SourceError(f"{name}: cannot read ({error.strerror or error})")
        if self.name == "sftp":
            return SourceUnreachable(f"{name}: the connection failed ({error.strerror or error})")
        return SourceError(f"{name}: read failed ({error.strerror or error})")


class SFTPFileOpener:
    """An `Opener` for a file on an SSH host, through the transport's SFTP session."""

    def __init__(self, transport: SFTPHost, path: str) -> None:
        self.transport = transport
        self.path = path
        self.name = f"{transport.name}:{path}"

    @contextmanager
    def open(self) -> Iterator[OpenedFile]:
        with self.transport.sftp().open(self.path, "rb") as file:
            attributes = file.stat()
            if stat.S_ISDIR(attributes.st_mode or 0):
                tip = "give the metrics file inside it (e.g. metrics.csv or history.jsonl)"
                raise SourceError(f"{self.name} is a directory", tip)
            size = attributes.st_size or 0
            mtime = None if attributes.st_mtime is None else float(attributes.st_mtime)
            yield OpenedFile(PipelinedFile(file, size), size, None, mtime)


class PipelinedFile:
    """An SFTP file whose large reads are pipelined: about one round trip per read.

    A plain SFTP read asks for 32 KiB and waits for it; `readv` sends all the requests of
    a range at once and holds only that range, so memory stays bounded. It is used only
    within the size seen at open: past the end a request fails instead of coming short.
    """

    def __init__(self, file: paramiko.SFTPFile, size: int) -> None:
        self._file = file
        self._size = size
        self._pos = 0

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int:
        if whence != io.SEEK_SET:
            raise io.UnsupportedOperation("only absolute seeks")
        self._pos = offset
        return offset

    def read(self, size: int, /) -> bytes:
        """Up to `size` bytes from the position; fewer only at the end of the file."""
        known = min(size, self._size - self._pos)
        data = b"".join(self._file.readv([(self._pos, known)])) if known > _REQUEST else b""
        if len(data) < size:  # a small read, or bytes written since the file was opened
            self._file.seek(self._pos + len(data))
            data += self._file.read(size - len(data))
        self._pos += len(data)
        return data
