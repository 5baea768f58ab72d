"""Runs for tests: static JSONL histories and a real process that behaves like a trainer."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

SLEEPER = Path(__file__).resolve().parent / "trainer_sleeper.py"


def write_log(path: Path, losses: list[float], start_time: float | None = None) -> Path:
    """A static JSONL history (NaN allowed), with timestamps from `start_time` when given."""
    with path.open("w") as f:
        for step, loss in enumerate(losses):
            row: dict[str, object] = {"_step": step, "train/loss": loss}
            if start_time is not None:
                row["_timestamp"] = start_time + step
            f.write(json.dumps(row) + "\n")
    return path


def healthy(n: int = 2000) -> list[float]:
    return [2.0 * math.exp(-s / 300) + 0.3 + 0.01 * math.sin(s * 1.7) for s in range(n)]


def flat(n: int = 3000) -> list[float]:
    return [2.3 + 0.01 * math.sin(s * 1.7) for s in range(n)]


def diverged(n: int = 500) -> list[float]:
    return [*healthy(n), math.nan, math.nan]


def sleeper(folder: Path) -> subprocess.Popen[bytes]:
    """A real trainer stand-in that exits 0 on SIGINT (after creating `got_SIGINT`)."""
    folder.mkdir(exist_ok=True)
    process = subprocess.Popen([sys.executable, str(SLEEPER), str(folder)], start_new_session=True)
    deadline = time.monotonic() + 10
    while not (folder / "ready").exists():
        assert time.monotonic() < deadline, "sleeper never became ready"
        time.sleep(0.02)
    return process
