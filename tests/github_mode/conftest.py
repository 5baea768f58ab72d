"""Fixtures of the GitHub-mode tests."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest


@pytest.fixture
def trainers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; whatever still runs at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
