"""The command line: `training-check check|watch|replay|demo|config-schema`.

The only place that prints errors and exits: the core raises TrainingCheckError, shown
here as one ERROR line and a TIP line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import NoReturn

from rich.console import Console

from . import __version__
from .clock import Clock, ScaledClock, SystemClock
from .config import Config, config_schema, load_config
from .cycle import CycleReport, Parts, run_cycle
from .errors import TrainingCheckError
from .replay import ReplayCheck, replay
from .report.terminal import replay_table, show_cycle
from .sources import read_history
from .trackers import LocalTracker
from .transport.pool import TransportPool
from .watching import watch
from .wiring import build_parts


def fatal(error: TrainingCheckError) -> NoReturn:
    """Print one ERROR line and a TIP line, then exit non-zero."""
    report_error(error)
    sys.exit(2)


def report_error(error: TrainingCheckError) -> None:
    """An expected error for people: no traceback."""
    print(f"ERROR: {error.message}", file=sys.stderr)
    if error.tip:
        print(f"TIP: {error.tip}", file=sys.stderr)


def positive_int(text: str) -> int:
    """argparse type for --every."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    """argparse type for --time-scale."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="training-check",
        description="Watch ML training runs, judge their health and stop the ones that diverged.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("check", "run one check cycle"), ("watch", "run check cycles forever")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--config", metavar="CFG", help="config file (default: .github/training-check.yml if present)")
        cmd.add_argument("--tracker", metavar="PATH", help="local watch-list file (Markdown or YAML)")
        cmd.add_argument("--check", metavar="RUN", action="append", default=[], help="check RUN now (or `all`)")
        cmd.add_argument(
            "--time-scale", type=positive_float, default=1.0, metavar="S", help="run the clock S times faster"
        )
    rp = sub.add_parser("replay", help="judge recorded histories as if checked every N steps")
    rp.add_argument("files", nargs="+", metavar="FILE", help="JSONL, CSV or text log")
    rp.add_argument("--every", type=positive_int, required=True, metavar="N", help="check every N steps")
    rp.add_argument("--config", metavar="CFG", help="config file (its `checks:` section is used)")
    rp.add_argument("--format", choices=("json", "table"), default="table")
    demo = sub.add_parser("demo", help="watch three real local trainers and stop the bad one")
    demo.add_argument("--seconds", type=positive_float, default=35.0, help="how long the demo watches")
    sub.add_parser("config-schema", help="print the JSON Schema of the config file")
    sub.add_parser("action", help="one check cycle as the GitHub Action runs it (settings from the environment)")
    return parser


def run_replay(files: Sequence[str], every: int, config_path: str | None, fmt: str) -> int:
    """Replay each file; a file that cannot be read is reported and the others still run."""
    config = load_config(config_path)
    failed = 0
    for file in files:
        try:
            history = read_history(file)
        except TrainingCheckError as e:
            report_error(e)
            failed += 1
            continue
        if history.rows_skipped:
            reasons = "; ".join(history.skip_reasons)
            print(f"WARNING: {file}: {history.rows_skipped} rows skipped ({reasons})", file=sys.stderr)
        emit(replay(file, history, every, config.checks.metrics, config.checks.thresholds), fmt)
    return 1 if failed else 0


def emit(checks: Iterable[ReplayCheck], fmt: str) -> None:
    """Print replayed checks as JSON lines or as a table."""
    if fmt == "json":
        for check in checks:
            print(json.dumps(check.as_json(), ensure_ascii=False), flush=True)
    else:
        print(replay_table(list(checks)), flush=True)


def local_parts(config: Config, tracker_path: str | None, clock: Clock, pool: TransportPool) -> Parts:
    """The parts of local mode: the watch list in a local file, its history cache beside it."""
    path = tracker_path or config.tracker.local
    if path is None:
        raise TrainingCheckError(
            "no watch list: local mode needs a watch-list file",
            tip="pass --tracker watch.md, or set `tracker: {local: watch.md}` in the config",
        )
    tracker = LocalTracker(path)
    return build_parts(config, tracker, clock, pool, environ=os.environ, cache=tracker.watch_path.with_suffix(".cache"))


def default_config_path(given: str | None) -> str | None:
    """The config given, else the conventional one when it exists."""
    if given is not None or not os.path.exists(".github/training-check.yml"):
        return given
    return ".github/training-check.yml"


def show(console: Console, report: CycleReport, tracker: LocalTracker) -> None:
    """One cycle on the terminal, and where its files are."""
    title = f"training-check · {len(report.views)} runs"
    show_cycle(console, report.views, report.verdicts, report.notices, title)
    console.print(f"[dim]dashboard: {tracker.dashboard_path} · reports: {tracker.report_path}[/dim]")


def run_local(args: argparse.Namespace) -> int:
    """`check` (one cycle) and `watch` (forever) in local mode."""
    config = load_config(default_config_path(args.config))
    clock: Clock = SystemClock() if args.time_scale == 1.0 else ScaledClock(args.time_scale)
    pool = TransportPool(config, os.environ)
    parts = local_parts(config, args.tracker, clock, pool)
    console = Console()
    assert isinstance(parts.tracker, LocalTracker)
    tracker = parts.tracker
    if args.command == "check":
        with pool:
            show(console, run_cycle(parts, force=args.check), tracker)
        return 0

    def after(report: CycleReport) -> bool:
        pool.close_all()  # one connection per host per cycle
        show(console, report, tracker)
        return True

    watch(parts, after)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `training-check` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "replay":
            return run_replay(args.files, args.every, args.config, args.format)
        if args.command == "config-schema":
            print(json.dumps(config_schema(), indent=2))
            return 0
        if args.command == "action":
            from .action import main_from_env  # noqa: PLC0415 - GitHub mode only

            return main_from_env()
        if args.command == "demo":
            from .demo import run_demo  # noqa: PLC0415 - only the demo needs its trainers

            return run_demo(args.seconds)
        return run_local(args)
    except TrainingCheckError as e:
        fatal(e)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
