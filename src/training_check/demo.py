"""`training-check demo`: three real local trainers watched on a compressed clock.

One trainer is healthy, one warms its learning rate up into a far too high peak and
diverges, one hits a corrupted batch and recovers. The demo writes a watch list for them,
runs the real watch loop in local mode with time running 120x faster, and shows that only
the diverging one is stopped (SIGINT first, so it saves its checkpoint).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from .clock import ScaledClock
from .config import ActionSettings, Config
from .cycle import CycleReport, Parts
from .fetching import log_sources
from .history_store import HistoryStore
from .report.terminal import show_cycle
from .trackers import LocalTracker
from .transport import LocalTransport, Transport
from .watching import watch

TIME_SCALE = 120.0  # a 10-minute check interval passes in 5 s
TRAINERS = ("healthy", "diverge", "spike")


def start_trainer(folder: Path, mode: str) -> subprocess.Popen[bytes]:
    """A real trainer process in its own session (so its PGID is its PID)."""
    log = folder / f"{mode}.jsonl"
    argv = [sys.executable, "-m", "training_check.demo_trainer", "--log", str(log), "--mode", mode]
    argv += ["--step-seconds", "0.02", "--glitch-step", "500"]
    return subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for_logs(folder: Path, seconds: float) -> None:
    """Give the trainers the moment they need to start (numpy import) and log a first row."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all((folder / f"{mode}.jsonl").exists() for mode in TRAINERS):
        time.sleep(0.1)


def watch_list(folder: Path, processes: dict[str, subprocess.Popen[bytes]]) -> str:
    """The watch list the demo writes: the same YAML block a GitHub tracking issue holds."""
    lines = ["# Demo runs", "", "```yaml", "runs:"]
    for mode, process in processes.items():
        lines += [f"  - log: {folder / f'{mode}.jsonl'}", f"    stop: {{pgid: {process.pid}}}"]
    return "\n".join([*lines, "```", ""])


def run_demo(seconds: float) -> int:
    """Start the trainers, watch them for `seconds` of real time, then report."""
    console = Console()
    folder = Path(tempfile.mkdtemp(prefix="training-check-demo-"))
    processes = {mode: start_trainer(folder, mode) for mode in TRAINERS}
    wait_for_logs(folder, seconds=15.0)
    (folder / "watch.md").write_text(watch_list(folder, processes))
    console.print(f"[bold]training-check demo[/bold]: 3 real trainers in {folder}, clock {TIME_SCALE:g}x faster\n")
    local = LocalTransport()

    def transport_for(host: str | None) -> Transport:
        return local

    tracker = LocalTracker(folder / "watch.md")
    config = Config(actions=ActionSettings(stop=True, grace_seconds=120.0))
    store = HistoryStore(folder / "cache")
    parts = Parts(config, tracker, ScaledClock(TIME_SCALE), None, transport_for, log_sources(transport_for), store)
    clock = parts.clock
    started = clock.now()

    def after(report: CycleReport) -> bool:
        title = f"after {(clock.now() - started) / 60:.0f} simulated minutes"
        if report.checked or report.verdicts:
            show_cycle(console, report.views, report.verdicts, report.notices, title)
        return True

    try:
        watch(parts, after, until=started + seconds * TIME_SCALE)
    finally:
        alive = {mode: p.poll() is None for mode, p in processes.items()}
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
    return summarize(console, folder, alive, tracker)


def summarize(console: Console, folder: Path, alive: dict[str, bool], tracker: LocalTracker) -> int:
    """Say what happened to each trainer; non-zero if the demo did not go as designed."""
    console.print()
    for mode, running in alive.items():
        got_int = (folder / f"{mode}.jsonl.sigint").exists()
        saved = (folder / f"{mode}.jsonl.checkpoint").exists()
        state = "still running" if running else "stopped"
        extra = " — got SIGINT first and saved its checkpoint" if got_int and saved else ""
        console.print(f"  {mode:<8} {state}{extra}")
    console.print(f"\nDashboard: {tracker.dashboard_path}\nReports:   {tracker.report_path}")
    console.print("(The demo ended the trainers still running when it finished.)")
    as_designed = alive == {"healthy": True, "diverge": False, "spike": True}
    if not as_designed:
        console.print("[red]The demo did not go as designed: see the reports above.[/red]")
    return 0 if as_designed else 1
