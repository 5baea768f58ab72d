"""Fixtures of the stopper tests: stand-in trainers that are always cleaned up."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from stoppers.helpers import StartTrainer, Trainer, start_trainer


@pytest.fixture
def trainers(tmp_path: Path) -> Iterator[StartTrainer]:
    """Start stand-in trainers (`trainers("name", "--ignore-int")`); all killed at the end."""
    started: list[Trainer] = []

    def start(name: str = "trainer", *flags: str) -> Trainer:
        trainer = start_trainer(tmp_path / name, *flags)
        started.append(trainer)
        return trainer

    yield start
    for trainer in started:
        # Each trainer leads its own process group: this ends its children as well.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(trainer.pid, signal.SIGKILL)
        trainer.proc.wait(timeout=5)
