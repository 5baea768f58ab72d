"""Shrinking the bot state to its budget: decoration goes, what keeps runs safe stays."""

from __future__ import annotations

from training_check.model import StopKind, StopOutcome, StopRecord, StopTarget, Verdict
from training_check.state import RunState, State, state_to_json
from training_check.state_budget import fit_state


def busy_run(n: int) -> RunState:
    return RunState(
        last_step=1000 + n,
        interval_minutes=10,
        next_due=1_795_000_600.0 + n,
        snoozed_until=1_795_007_200.0,
        snoozed_by="@carol",
        recent_verdicts=(Verdict.FINE,) * 9 + (Verdict.UNSURE,),
        first_seen=1_795_000_000.0,
        last_verdict=Verdict.UNSURE,
        last_reason="flat for 3,000 steps " * 5,
        last_loss=2.3,
        last_trend="▇▅▄▃▂▂▁",
        last_vs_baseline="+0.310 vs baseline 2.31",
        review_reason="the reviewer explains at length " * 5,
        review_times=(1_795_000_000.0,),
    )


def test_a_small_state_is_left_alone() -> None:
    state = State(runs={"a": busy_run(1)})
    assert fit_state(state, {"a"}) is state


def test_a_large_state_keeps_stops_schedule_snoozes_and_reviews() -> None:
    stop = StopRecord(StopTarget(StopKind.PID, "4242"), 1_795_000_100.0, "rule", "non-finite", (), StopOutcome.STOPPED)
    runs = {f"run-{n:03d}": busy_run(n) for n in range(200)}
    runs["run-007"] = RunState(stop=stop, first_seen=1.0)
    runs["gone"] = busy_run(999)  # no longer in the watch list
    state = State(runs=runs, last_command=1234)

    fitted = fit_state(state, {f"run-{n:03d}" for n in range(200)}, budget=45_000)

    assert len(state_to_json(fitted)) <= 45_000 < len(state_to_json(state))
    assert "gone" not in fitted.runs and fitted.last_command == 1234
    assert fitted.run("run-007").stop == stop
    for name, run in fitted.runs.items():
        before = state.runs[name]
        kept = (
            "next_due",
            "interval_minutes",
            "snoozed_until",
            "snoozed_by",
            "first_seen",
            "review_times",
            "last_verdict",
        )
        assert all(getattr(run, f) == getattr(before, f) for f in kept), name
        assert run.last_trend is None and run.review_reason is None
