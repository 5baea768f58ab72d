"""From a run's state and what this cycle saw to the `RunView` the reports render."""

from __future__ import annotations

import math

from .analysis.robust import fmt
from .checking import Observation
from .model import StopOutcome, Verdict
from .report.charts import sparkline
from .report.markdown import utc_time
from .report.views import MetricLine, RunView, Status, loss_chart, metric_lines, vs_baseline
from .reviewers import Review
from .state import RunState
from .watchlist import WatchEntry

_STOPPED = (StopOutcome.STOPPED, StopOutcome.ALREADY_GONE)
_STATUS_OF = {Verdict.FINE: Status.HEALTHY, Verdict.UNSURE: Status.UNSURE, Verdict.BAD: Status.BAD}


def stop_status(run: RunState) -> tuple[Status, str] | None:
    """The status of a run whose stop has begun, or None."""
    stop = run.stop
    if stop is None:
        return None
    if stop.outcome in _STOPPED:
        return Status.STOPPED, run.last_reason or stop.reason
    if stop.outcome is StopOutcome.DRY_RUN:
        return Status.WOULD_STOP, run.last_reason or stop.reason
    return Status.ERROR, f"stop {stop.outcome.value}: {stop.detail}"


def status_of(run: RunState, now: float) -> tuple[Status, str]:
    """The dashboard status of a run and the words after its mark."""
    stopping = stop_status(run)
    if stopping is not None:
        return stopping
    if run.finished:
        how = run.ended_as or "finished"
        return Status.FINISHED, f"{how} at step {run.last_step:,}" if run.last_step is not None else how
    if run.snoozed_until is not None and now < run.snoozed_until:
        who = f" by {run.snoozed_by}" if run.snoozed_by else ""
        return Status.SNOOZED, f"{who} until {utc_time(run.snoozed_until)}".strip()
    if run.last_error or run.last_verdict is None:
        return (Status.UNREACHABLE, run.last_error) if run.last_error else (Status.WAITING, "not checked yet")
    detail = run.last_reason or ""
    if run.last_verdict is Verdict.UNSURE and run.review_decision:
        detail += f" · reviewer: {run.review_decision}"
    return _STATUS_OF[run.last_verdict], detail


def loss_text(value: float | None) -> str:
    """The last loss for the dashboard (NaN and Inf shown as such)."""
    if value is None:
        return ""
    return fmt(value) if math.isfinite(value) else ("NaN" if math.isnan(value) else "Inf")


def run_view(entry: WatchEntry, run: RunState, obs: Observation | None, action: str, now: float) -> RunView:
    """The view of one run: full detail when it was checked this cycle, else from state."""
    status, detail = status_of(run, now)
    history = obs.history if obs else None
    metrics: tuple[MetricLine, ...] = ()
    chart = None
    if obs is not None and history is not None:
        metrics = metric_lines(history, obs.names, obs.baseline)
        chart = loss_chart(history, obs.names, entry.name)
    active = status not in (Status.STOPPED, Status.FINISHED)
    return RunView(
        name=entry.name,
        url=entry.wandb_url,
        status=status,
        status_detail=detail,
        step=run.last_step,
        host=entry.host,
        judgment=obs.judgment if obs else None,
        metrics=tuple(metrics),
        chart=chart,
        loss_text=loss_text(run.last_loss),
        trend=run.last_trend or "",
        vs_baseline=run.last_vs_baseline or "",
        checked_at=run.last_checked,
        next_due=run.next_due if active else None,
        interval_minutes=run.interval_minutes,
        action=action,
    )


def trend_and_baseline(obs: Observation) -> tuple[str, str]:
    """The dashboard's short loss trend and eval-vs-baseline text for a fresh observation."""
    if obs.history is None:
        return "", ""
    trend = sparkline(obs.history.get(obs.names.loss), width=7)
    if obs.names.eval is None:
        return trend, ""
    return trend, vs_baseline(obs.history.get(obs.names.eval), obs.names.eval, obs.baseline)


def review_text(review: Review | None) -> str:
    """What the reviewer said, for the action line."""
    if review is None:
        return ""
    if not review.available:
        return f"No review ({review.reason}), so: WAIT."
    return f"Reviewer ({review.model}): {review.decision.value} — {review.reason}."
