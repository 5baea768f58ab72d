"""What the reports show, computed once from a run's history and its judgment."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..analysis.evaluation import higher_is_better
from ..analysis.robust import fmt
from ..model import Baseline, History, Judgment, MetricNames, Series, Verdict
from .charts import mermaid_chart, sparkline
from .markdown import code, inline, shorten, utc_time


class Status(enum.Enum):
    """The status column of the dashboard, with its mark."""

    HEALTHY = "🟢 healthy"
    UNSURE = "🟡 unsure"
    BAD = "🔴 bad"
    STOPPED = "🔴 stopped"
    WOULD_STOP = "🟠 would stop"
    SNOOZED = "⏸ snoozed"
    FINISHED = "✅ finished"
    UNREACHABLE = "⚠️ unreachable"
    WAITING = "⏳ waiting"  # not checked yet
    ERROR = "⚠️ error"


@dataclass(frozen=True)
class MetricLine:
    """One row of the metrics table of a verdict."""

    name: str
    last: str
    best: str
    trend: str
    vs_baseline: str


@dataclass(frozen=True)
class RunView:
    """Everything the dashboard row and the verdict text say about one run."""

    name: str
    url: str | None
    status: Status
    status_detail: str  # after the status mark: "NaN loss", "by @alice until 05:00"
    step: int | None
    host: str | None
    judgment: Judgment | None
    metrics: tuple[MetricLine, ...]
    chart: str | None
    loss_text: str
    trend: str
    vs_baseline: str
    checked_at: float | None
    next_due: float | None
    interval_minutes: int | None
    action: str  # what was done, one or two sentences
    total_steps: int | None = None  # the step the run ends at, when known

    @property
    def url_label(self) -> str:
        """The text of the run's link: `entity/project/id` for a W&B run, else the run name."""
        prefix = "https://wandb.ai/"
        if self.url and self.url.startswith(prefix):
            return self.url.removeprefix(prefix).replace("/runs/", "/", 1)
        return self.name

    @property
    def verdict(self) -> Verdict | None:
        """The verdict of this check, if the run was judged."""
        return self.judgment.verdict if self.judgment else None


_SAID_BY_STATUS = {
    Status.STOPPED: "stopped",
    Status.WOULD_STOP: "would be stopped (dry run)",
    Status.FINISHED: "finished",
    Status.UNREACHABLE: "unreachable",
    Status.ERROR: "error",
    Status.SNOOZED: "snoozed",
}


def headline(run: RunView, reason_limit: int = 300) -> str:
    """The title line of a verdict (Markdown): status mark, run, what happened, main reason.

    The mark is the status's, as on the dashboard (🟠 for a dry-run stop, ✅ when finished).
    """
    verdict = run.verdict
    what = _SAID_BY_STATUS.get(run.status) or (verdict.value if verdict else "not judged")
    mark = run.status.value.split(" ", 1)[0]
    reasons = run.judgment.reasons if run.judgment else ()
    reason = shorten(reasons[0].detail if reasons else run.status_detail, reason_limit)
    return f"{mark} {code(shorten(run.name, 120))} {what}" + (f" — {inline(reason)}" if reason else "")


def schedule_line(runs: Sequence[RunView]) -> str:
    """When the next check is due and for which run (Markdown), or empty when none is."""
    due = [r for r in runs if r.next_due is not None]
    if not due:
        return ""
    first = min(due, key=lambda r: r.next_due or 0.0)
    every = f", checked every {first.interval_minutes} min" if first.interval_minutes else ""
    return f"Next check {utc_time(first.next_due)} UTC ({code(shorten(first.name, 120))}{every})."


def last_finite(series: Series) -> tuple[int, float] | None:
    """The newest finite point of a series."""
    finite = np.flatnonzero(np.isfinite(series.values))
    if finite.size == 0:
        return None
    i = int(finite[-1])
    return int(series.steps[i]), float(series.values[i])


def vs_baseline(series: Series, name: str, baseline: Baseline | None) -> str:
    """The newest finite value against the baseline, as a signed difference."""
    point = last_finite(series)
    if baseline is None or point is None:
        return ""
    reference = baseline.at(point[0])
    if reference is None:
        return ""
    sign = -1.0 if higher_is_better(name) else 1.0
    diff = point[1] - reference
    arrow = "worse" if sign * diff > 0 else "better"
    return f"{diff:+.3g} ({arrow}) vs {baseline.label}"


def metric_line(history: History, name: str, baseline: Baseline | None, with_best: bool) -> MetricLine | None:
    """The metrics-table row of one metric, or None when it was never logged."""
    series = history.get(name)
    if not len(series):
        return None
    last_value = float(series.values[-1])
    last = fmt(last_value) + ("" if len(series) < 2 else f" @ {int(series.steps[-1]):,}")
    finite = np.isfinite(series.values)
    best = ""
    if with_best and finite.any():
        values = np.where(finite, series.values, np.nan)
        i = int(np.nanargmax(values) if higher_is_better(name) else np.nanargmin(values))
        best = f"{fmt(float(series.values[i]))} @ {int(series.steps[i]):,}"
    return MetricLine(name, last, best, sparkline(series), vs_baseline(series, name, baseline))


def metric_lines(history: History, names: MetricNames, baseline: Baseline | None) -> tuple[MetricLine, ...]:
    """Rows for loss, eval, lr and grad norm, in that order, as far as the run logs them."""
    rows = []
    for name in (names.loss, names.eval, names.lr, names.grad_norm):
        if name is not None:
            scored = name in (names.loss, names.eval)  # "best" means nothing for lr or grad norm
            row = metric_line(history, name, baseline if name == names.eval else None, scored)
            if row is not None:
                rows.append(row)
    return tuple(rows)


def loss_chart(history: History, names: MetricNames, run_name: str) -> str | None:
    """A Mermaid chart of the recent finite training loss."""
    if names.loss is None:
        return None
    series = history.get(names.loss)
    finite = series.steps[np.isfinite(series.values)]
    if finite.size < 2:
        return None
    title = f"{run_name}: {names.loss} (finite values), steps {int(finite[0]):,}–{int(finite[-1]):,}"
    return mermaid_chart(series, title, "loss")
