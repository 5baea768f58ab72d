"""A stand-in trainer for the stopper tests: a real loop that logs and handles signals.

    python trainer_sleeper.py DIR [--ignore-int] [--ignore-term] [--child] [--checkpoint-seconds S]

It writes its pid to DIR/pid and creates DIR/ready once its signal handlers are installed
(tests wait for it: a SIGINT before that would hit Python's default handler), then
computes and appends a line to DIR/train.log every 0.05 s.

SIGINT: appends a line to DIR/SIGINT.count, creates DIR/got_SIGINT and, unless
--ignore-int, "saves a checkpoint" (DIR/checkpoint, after S seconds) and exits 0.
SIGTERM: creates DIR/got_SIGTERM and exits 143 unless --ignore-term. --child starts a
second sleeper in DIR/child (ignoring both signals, so only SIGKILL ends it) in the same
process group, its pid in DIR/child.pid.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType


class Trainer:
    """The loop's state, changed by the signal handlers."""

    def __init__(self, folder: Path, ignore_int: bool, ignore_term: bool) -> None:
        self.folder = folder
        self.ignore_int = ignore_int
        self.ignore_term = ignore_term
        self.stop_requested = False

    def on_sigint(self, signum: int, frame: FrameType | None) -> None:
        with (self.folder / "SIGINT.count").open("a") as f:
            f.write("SIGINT\n")
        (self.folder / "got_SIGINT").touch()
        if not self.ignore_int:
            self.stop_requested = True  # finish the step, save, exit: in the main loop

    def on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        (self.folder / "got_SIGTERM").touch()
        if not self.ignore_term:
            sys.exit(143)

    def run(self) -> int:
        total, step = 0.0, 0
        with (self.folder / "train.log").open("a") as log:
            while not self.stop_requested:
                total += sum(i * i for i in range(1000)) / 1e9  # a little real work
                log.write(f"step {step} loss {1 / (1 + total):.6f}\n")
                log.flush()
                step += 1
                time.sleep(0.05)
        return step


def start_child(folder: Path) -> None:
    """A second sleeper in our process group (no new session), ignoring INT and TERM."""
    child_dir = folder / "child"
    child = subprocess.Popen([sys.executable, __file__, str(child_dir), "--ignore-int", "--ignore-term"])
    (folder / "child.pid").write_text(f"{child.pid}\n")
    deadline = time.monotonic() + 10
    while not (child_dir / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--ignore-int", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--checkpoint-seconds", type=float, default=0.2)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(args.folder, args.ignore_int, args.ignore_term)
    signal.signal(signal.SIGINT, trainer.on_sigint)
    signal.signal(signal.SIGTERM, trainer.on_sigterm)
    if args.child:
        start_child(args.folder)
    (args.folder / "pid").write_text(f"{os.getpid()}\n")
    (args.folder / "ready").touch()
    trainer.run()
    time.sleep(args.checkpoint_seconds)  # "saving the checkpoint"
    (args.folder / "checkpoint").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
