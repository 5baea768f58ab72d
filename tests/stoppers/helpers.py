"""Helpers of the stopper tests: real trainer processes, a recording transport, a save log."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from training_check.model import StopRecord
from training_check.stoppers import process_info
from training_check.transport import CommandResult, LocalTransport, TransportError

TRAINER = Path(__file__).resolve().parents[1] / "support" / "trainer_sleeper.py"


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` (real seconds) passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def trainer_argv(folder: Path, *flags: str) -> list[str]:
    """The command line of a stand-in trainer writing into `folder`."""
    return [sys.executable, str(TRAINER), str(folder), *flags]


@dataclass
class Trainer:
    """A running stand-in trainer (its own session, so its PGID is its PID)."""

    proc: subprocess.Popen[bytes]
    folder: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def marker(self, name: str) -> bool:
        return (self.folder / name).exists()

    def sigint_count(self) -> int:
        path = self.folder / "SIGINT.count"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def child_pid(self) -> int:
        return int((self.folder / "child.pid").read_text())

    def running(self) -> bool:
        """Alive and not a zombie, seen through `ps` (so the process is not reaped)."""
        return is_running(self.pid)


def is_running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    info = process_info(LocalTransport(), pid)
    return info is not None and not info.zombie


def start_trainer(folder: Path, *flags: str) -> Trainer:
    """Start a stand-in trainer and wait until its signal handlers are installed."""
    proc = subprocess.Popen(trainer_argv(folder, *flags), start_new_session=True)
    if not wait_for((folder / "ready").exists, timeout=10):
        proc.kill()
        raise RuntimeError("the stand-in trainer did not start")
    return Trainer(proc, folder)


StartTrainer = Callable[..., Trainer]  # the `trainers` fixture: (name, *flags) -> Trainer


class RecordingTransport(LocalTransport):
    """A LocalTransport that records every argv; can fail or crash on a chosen command.

    `fail_on`: raise TransportError instead of running a command starting with these items.
    `crash_after`: run such a command, then raise RuntimeError (a checker crashing right
    after it acted).
    """

    name = "recording"

    def __init__(self, fail_on: Sequence[str] = (), crash_after: Sequence[str] = ()) -> None:
        self.calls: list[list[str]] = []
        self.fail_on = list(fail_on)
        self.crash_after = list(crash_after)

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> CommandResult:
        self.calls.append(list(argv))
        if self.fail_on and list(argv[: len(self.fail_on)]) == self.fail_on:
            raise TransportError(f"`{argv[0]}` could not be run (injected)")
        result = super().run(argv, timeout)
        if self.crash_after and list(argv[: len(self.crash_after)]) == self.crash_after:
            self.crash_after = []  # crash once
            raise RuntimeError("the checker crashed (injected)")
        return result

    def commands(self, program: str) -> list[list[str]]:
        """The recorded calls of `program`."""
        return [call for call in self.calls if call[0] == program]


class SaveLog:
    """A `save` callback keeping every record it was given."""

    def __init__(self) -> None:
        self.records: list[StopRecord] = []

    def __call__(self, record: StopRecord) -> None:
        self.records.append(record)

    @property
    def last(self) -> StopRecord:
        return self.records[-1]
