"""The source interface: fetch a run's new metric rows since a cursor.

A source reads only what is new (W&B: steps after the last one seen; a log file: bytes
after the last offset). The cycle merges the new rows into the history it keeps, so a
check always judges the whole run while transferring only the new part.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..model import History
from .errors import SourceError


class SourceUnreachable(SourceError):
    """The source could not be reached at all (network, auth, host down): try another."""


class RunState(enum.Enum):
    """What the run itself says about its life (W&B knows; a log file does not)."""

    RUNNING = "running"
    FINISHED = "finished"
    CRASHED = "crashed"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Cursor:
    """Where the last read ended: the last step seen and, for files, the byte offset.

    `identity` tells a file apart from a new one at the same path (rotation): device,
    inode and the first bytes' hash, as the reader sees fit. A cursor whose identity no
    longer matches is dropped and the file read from the start.
    """

    last_step: int | None = None
    offset: int = 0
    identity: str = ""


@dataclass(frozen=True)
class Fetched:
    """The new rows, the cursor to continue from, and what the run says of itself."""

    new: History
    cursor: Cursor
    reset: bool = False  # the earlier history is void (file truncated or replaced)
    state: RunState = RunState.UNKNOWN
    heartbeat: float | None = None  # epoch seconds of the run's last sign of life
    transferred_bytes: int = 0
    notes: Mapping[str, str] = field(default_factory=dict)


class Source(Protocol):
    """Reads one kind of metric source."""

    name: str  # "wandb", "sftp", "local"

    def fetch(self, cursor: Cursor | None) -> Fetched:
        """The rows after `cursor` (all rows for None); SourceUnreachable when unreachable."""
        ...
