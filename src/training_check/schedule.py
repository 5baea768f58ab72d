"""When each run is checked next: often while it is new or in doubt, rarely while it is healthy."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace

from .state import RunState, State

DEFAULT_INTERVALS = (10, 20, 30, 60)  # minutes


def next_interval(current: int | None, anomaly: bool, intervals: Sequence[int] = DEFAULT_INTERVALS) -> int:
    """The interval after a check: the shortest one on a first check or an anomaly, else the
    next longer one, capped at the longest.

    `current` need not be one of `intervals` (the config may have changed since): the next
    longer is then the shortest interval above it.
    """
    if not intervals:
        raise ValueError("at least one check interval is needed")
    if current is None or anomaly:
        return intervals[0]
    return next((i for i in intervals if i > current), intervals[-1])


def due_at(run: RunState) -> float | None:
    """When the run is next due (-inf: at once), or None for a finished run.

    A snooze postpones the check itself, so a snoozed run wakes no one before it ends.
    """
    if run.finished:
        return None
    due = -math.inf if run.next_due is None else run.next_due
    return max(due, run.snoozed_until) if run.snoozed_until is not None else due


def is_due(run: RunState, now: float) -> bool:
    """Whether the run should be checked at `now` (a run never checked is due at once)."""
    due = due_at(run)
    return due is not None and due <= now


def reschedule(
    run: RunState, anomaly: bool, now: float, intervals: Sequence[int] = DEFAULT_INTERVALS
) -> RunState:
    """The run after a check at `now`: its new interval, and a due time that is a real timestamp.

    An anomaly is anything that needs a closer look soon: an unsure or bad verdict, a
    reviewer's WAIT, an unreachable host.
    """
    interval = next_interval(run.interval_minutes, anomaly, intervals)
    return replace(run, interval_minutes=interval, next_due=now + interval * 60.0)


def next_wake(state: State, names: Iterable[str], now: float) -> float | None:
    """The earliest time one of the runs `names` is due (never before `now`); None if none
    will ever be due. A name without state is a new run, due at once."""
    times = [t for t in (due_at(state.run(n)) for n in names) if t is not None]
    return max(min(times), now) if times else None
