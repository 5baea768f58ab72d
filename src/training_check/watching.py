"""`training-check watch`: cycle forever, sleeping until the next run is due."""

from __future__ import annotations

from collections.abc import Callable

from .cycle import FINAL_STOPS, CycleReport, Parts, run_cycle
from .schedule import next_wake
from .state import State

# When nothing is due (every run stopped or finished), look at the watch list this often.
IDLE_SECONDS = 600.0


def active_runs(state: State, names: list[str]) -> list[str]:
    """The runs that still need checking."""
    active = []
    for name in names:
        run = state.run(name)
        if not run.finished and not (run.stop is not None and run.stop.outcome in FINAL_STOPS):
            active.append(name)
    return active


def watch(
    parts: Parts, after_cycle: Callable[[CycleReport], bool], until: float | None = None
) -> CycleReport:
    """Run cycles until `after_cycle` returns False or the clock passes `until`."""
    while True:
        report = run_cycle(parts)
        now = parts.clock.now()
        if not after_cycle(report) or (until is not None and now >= until):
            return report
        names = active_runs(report.state, [v.name for v in report.views])
        wake = next_wake(report.state, names, now)
        wake_at = now + IDLE_SECONDS if wake is None else max(now + 1.0, wake)
        if until is not None and wake_at > until:
            parts.clock.sleep(until - now)
            return report
        parts.clock.sleep(wake_at - now)
