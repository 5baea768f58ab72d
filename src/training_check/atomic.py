"""Writing a file so that a crash leaves either the old version or the new one, never half."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Replace the file at `path` with `text` in one step (see `write_atomic_bytes`)."""
    write_atomic_bytes(path, text.encode(encoding))


def write_atomic_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data` in one step.

    The text goes to a temporary file in the same directory (a rename is only atomic
    within one file system), is flushed and fsynced, and then renamed over `path`. A
    crash before the rename leaves the old file untouched (and, at worst, a stray
    `.<name>.<random>.tmp` beside it). The file keeps the mode of the file it replaces.
    """
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never write through a file or link someone else put there; 0o666 lets the umask decide.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, os.stat(target).st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _sync_directory(target.parent)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable; some systems (Windows) cannot open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
