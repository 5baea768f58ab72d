"""Scheduling: intervals grow while healthy, reset on an anomaly; due times are timestamps."""

from __future__ import annotations

import pytest

from support.clock import FakeClock
from training_check.schedule import DEFAULT_INTERVALS, is_due, next_interval, next_wake, reschedule
from training_check.state import RunState, State


def test_intervals_grow_while_healthy_and_reset_on_an_anomaly() -> None:
    clock = FakeClock()
    run = RunState()
    seen: list[int] = []
    for anomaly in (False, False, False, False, False, True, False):
        run = reschedule(run, anomaly, clock.now())
        assert run.interval_minutes is not None
        seen.append(run.interval_minutes)
        assert run.next_due == clock.now() + run.interval_minutes * 60  # a real timestamp
        clock.advance(run.interval_minutes * 60)
    assert seen == [10, 20, 30, 60, 60, 10, 20]


def test_next_interval_rules() -> None:
    assert next_interval(None, anomaly=False) == 10
    assert next_interval(None, anomaly=True) == 10
    assert next_interval(30, anomaly=False) == 60
    assert next_interval(60, anomaly=False) == 60
    assert next_interval(60, anomaly=True) == 10
    assert next_interval(25, anomaly=False) == 30  # the config changed since: next longer one
    assert next_interval(5, anomaly=False, intervals=(15, 45)) == 15
    assert next_interval(45, anomaly=False, intervals=(15, 45)) == 45
    assert DEFAULT_INTERVALS == (10, 20, 30, 60)
    with pytest.raises(ValueError, match="at least one"):
        next_interval(None, anomaly=False, intervals=())


def test_a_run_never_checked_is_due_at_once() -> None:
    assert is_due(RunState(), FakeClock().now())


def test_a_run_is_due_at_its_due_time_and_not_before() -> None:
    clock = FakeClock()
    run = reschedule(RunState(), anomaly=False, now=clock.now())
    clock.advance(10 * 60 - 1)
    assert not is_due(run, clock.now())
    clock.advance(1)
    assert is_due(run, clock.now())


def test_snoozed_and_finished_runs_are_not_due() -> None:
    now = FakeClock().now()
    assert not is_due(RunState(snoozed_until=now + 60), now)
    assert is_due(RunState(snoozed_until=now - 1), now)
    assert not is_due(RunState(finished=True), now)


def test_next_wake_is_the_earliest_due_time_among_the_named_runs() -> None:
    now = FakeClock().now()
    state = State(
        runs={
            "a": RunState(next_due=now + 600),
            "b": RunState(next_due=now + 300),
            "c": RunState(next_due=now + 10),  # not asked about
            "d": RunState(next_due=now + 100, snoozed_until=now + 900),
            "e": RunState(finished=True),
        }
    )
    assert next_wake(state, ["a", "b", "d", "e"], now) == now + 300
    assert next_wake(state, ["d"], now) == now + 900
    assert next_wake(state, ["a", "new"], now) == now  # a new run is due at once
    assert next_wake(State(runs={"a": RunState(next_due=now - 50)}), ["a"], now) == now
    assert next_wake(state, ["e"], now) is None
    assert next_wake(state, [], now) is None
