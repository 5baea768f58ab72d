"""The command line: `training-check replay|demo …`. The only place that prints errors and exits."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from typing import NoReturn

from . import __version__
from .config import load_config
from .demo import example_files
from .errors import TrainingCheckError
from .replay import ReplayCheck, replay
from .report.terminal import replay_table
from .sources import read_history


def fatal(error: TrainingCheckError) -> NoReturn:
    """Print one ERROR line and a TIP line, then exit non-zero."""
    print(f"ERROR: {error.message}", file=sys.stderr)
    if error.tip:
        print(f"TIP: {error.tip}", file=sys.stderr)
    sys.exit(2)


def positive_int(text: str) -> int:
    """argparse type for --every."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="training-check",
        description="Watch ML training runs, judge their health and stop the ones that diverged.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    rp = sub.add_parser("replay", help="judge recorded histories as if checked every N steps")
    rp.add_argument("files", nargs="+", metavar="FILE", help="JSONL, CSV, .wandb or text log")
    rp.add_argument("--every", type=positive_int, required=True, metavar="N", help="check every N steps")
    rp.add_argument("--config", metavar="CFG", help="config file (its `checks:` section is used)")
    rp.add_argument("--format", choices=("json", "table"), default="table")
    sub.add_parser("demo", help="replay the bundled example runs and show the verdicts")
    return parser


def run_replay(files: Sequence[str], every: int, config_path: str | None, fmt: str) -> int:
    """Replay each file; a file that cannot be read is reported and the others still run."""
    config = load_config(config_path)
    failed = 0
    for file in files:
        try:
            history = read_history(file)
        except TrainingCheckError as e:
            print(f"ERROR: {e.message}", file=sys.stderr)
            if e.tip:
                print(f"TIP: {e.tip}", file=sys.stderr)
            failed += 1
            continue
        if history.rows_skipped:
            reasons = "; ".join(history.skip_reasons)
            print(f"WARNING: {file}: {history.rows_skipped} rows skipped ({reasons})", file=sys.stderr)
        checks = replay(file, history, every, config.checks.metrics, config.checks.thresholds)
        emit(checks, fmt)
    return 1 if failed else 0


def emit(checks: Iterable[ReplayCheck], fmt: str) -> None:
    """Print replayed checks as JSON lines or as a table."""
    if fmt == "json":
        for check in checks:
            print(json.dumps(check.as_json(), ensure_ascii=False))
    else:
        print(replay_table(list(checks)))


def run_demo() -> int:
    """Replay the example histories shipped with the package."""
    files = example_files()
    print("training-check demo: replaying example training runs, checked every 100 steps\n")
    return run_replay([str(f) for f in files], 100, None, "table")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `training-check` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "replay":
            return run_replay(args.files, args.every, args.config, args.format)
        return run_demo()
    except TrainingCheckError as e:
        fatal(e)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
