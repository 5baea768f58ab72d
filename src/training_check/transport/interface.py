"""The transport interface: run one command (an argv list, never a shell string)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..errors import TrainingCheckError


class TransportError(TrainingCheckError):
    """The command could not be run at all (host unreachable, binary missing, timeout)."""


@dataclass(frozen=True)
class CommandResult:
    """What a finished command returned."""

    exit_code: int
    stdout: str
    stderr: str


class Transport(Protocol):
    """Runs commands on one host. Arguments are a list; implementations quote them."""

    name: str  # "local" or the host's name from the config, for messages

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
        """Run `argv` and wait for it; raise TransportError if it could not run."""
        ...
