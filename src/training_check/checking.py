"""One run, one check: read its metrics, judge them, and ask the reviewer when unsure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .analysis import judge
from .config import Config
from .fetching import Reading, fetch_run
from .history_store import HistoryStore
from .model import Baseline, History, Judgment, MetricNames, Severity, Verdict
from .replay import metric_names
from .reviewers import Decision, Review, Reviewer, ReviewRequest
from .reviewers.budget import over_budget_review, prune, within_budget
from .sources.errors import SourceError
from .sources.interface import RunState as RunLife
from .sources.interface import Source
from .state import RunState
from .watchlist import WatchEntry


@dataclass(frozen=True)
class Observation:
    """What a check found: the history and its judgment, or why the run could not be read."""

    history: History | None
    names: MetricNames
    judgment: Judgment | None
    baseline: Baseline | None
    error: str | None = None
    reading: Reading | None = None

    @property
    def life(self) -> RunLife:
        """What the run says of itself (running, finished, crashed …), when its source knows."""
        return self.reading.fetched.state if self.reading else RunLife.UNKNOWN


def baseline_for(entry: WatchEntry, names: MetricNames) -> tuple[Baseline | None, MetricNames]:
    """The baseline of the entry, and the names with its metric as the eval metric."""
    spec = entry.baseline
    if spec is None or not spec.values:
        return None, names
    metric, value = next(iter(spec.values.items()))
    label = f"baseline {value:g}"
    return Baseline(value=value, label=label), MetricNames(names.loss, metric, names.lr, names.grad_norm)


def observe(
    entry: WatchEntry, config: Config, now: float, sources: Sequence[Source], store: HistoryStore
) -> Observation:
    """Read and judge one run; a read failure is an observation, never an exception."""
    try:
        reading = fetch_run(entry, sources, store)
    except SourceError as e:
        return Observation(None, MetricNames(), None, None, error=e.message)
    history = reading.history
    names = metric_names(history, config.checks.metrics)
    baseline, names = baseline_for(entry, names)
    fetched = reading.fetched
    running = fetched.state is RunLife.RUNNING and fetched.heartbeat is not None
    idle = max(0.0, now - fetched.heartbeat) if running and fetched.heartbeat is not None else None
    judgment = judge(history, names, config.checks.thresholds, baseline, idle)
    return Observation(history, names, judgment, baseline, reading=reading)


def started_at(history: History | None, run: RunState) -> float | None:
    """When the run began: its first logged timestamp, or when the bot first saw it."""
    candidates = [t for t in (run.first_seen, run.started_at) if t is not None]
    if history is not None:
        stamps = history.get("_timestamp").values
        finite = stamps[np.isfinite(stamps)]
        if finite.size:
            candidates.append(float(finite[0]))
    return min(candidates) if candidates else None


def review_request(entry: WatchEntry, obs: Observation) -> ReviewRequest:
    """What the reviewer is shown: recent losses and evals, the baseline, what is unsure."""
    assert obs.history is not None and obs.judgment is not None
    loss = obs.history.get(obs.names.loss)
    evals = obs.history.get(obs.names.eval)
    unsure = tuple(s.detail for s in obs.judgment.signals if s.severity is Severity.UNSURE)
    return ReviewRequest(
        run_name=entry.name,
        run_url=entry.wandb_url,
        step=obs.judgment.step or 0,
        last_losses=tuple(float(v) for v in loss.values[-10:]),
        last_evals=tuple((int(s), float(v)) for s, v in zip(evals.steps[-3:], evals.values[-3:], strict=True)),
        baseline=obs.baseline.label if obs.baseline else None,
        unsure_reasons=unsure,
        loss_name=obs.names.loss or "loss",
        eval_name=obs.names.eval or "eval",
    )


def review(
    entry: WatchEntry,
    obs: Observation,
    run: RunState,
    *,
    reviewer: Reviewer | None,
    config: Config,
    now: float,
) -> tuple[Review | None, RunState]:
    """Ask the reviewer about an unsure run, within the daily budget; others get no review."""
    if obs.judgment is None or obs.judgment.verdict is not Verdict.UNSURE:
        return None, run
    if reviewer is None or config.reviewer is None:
        reason = "no reviewer configured; add a `reviewer:` section to ask an LLM"
        return Review(Decision.WAIT, reason, available=False, model=""), run
    per_day = config.reviewer.max_reviews_per_run_per_day
    recent = prune(run.review_times, now)
    if not within_budget(recent, now, per_day):
        return over_budget_review(per_day, config.reviewer.model), run
    answer = reviewer.review(review_request(entry, obs))
    return answer, replace(run, review_times=(*recent, now), review_count=run.review_count + 1)
