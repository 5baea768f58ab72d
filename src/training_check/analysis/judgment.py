"""The judgment table: signals of every metric -> fine / unsure / bad."""

from __future__ import annotations

from ..model import Baseline, History, Judgment, MetricNames, Severity, Signal, Verdict
from .evaluation import eval_signals
from .loss import loss_signals
from .optimizer import grad_signals, lr_signals
from .thresholds import Thresholds

_VERDICT_OF = {Severity.NOTE: Verdict.FINE, Severity.UNSURE: Verdict.UNSURE, Severity.BAD: Verdict.BAD}
_DEFAULTS = Thresholds()


def judge(
    history: History,
    names: MetricNames,
    thresholds: Thresholds = _DEFAULTS,
    baseline: Baseline | None = None,
    idle_seconds: float | None = None,
) -> Judgment:
    """Judge a run from its history: the most severe signal decides the verdict.

    `idle_seconds` is how long a run that says it is running has logged no new step
    (None when unknown or not running). Pure and deterministic: no I/O, no clock.
    """
    signals: list[Signal] = []
    if names.loss is None or not len(history.get(names.loss)):
        keys = ", ".join(sorted(history.series)[:8]) or "none"
        detail = f"no training loss found (keys: {keys}); set `checks.loss` to its name"
        if history.rows_skipped:
            detail += f"; {history.rows_skipped} rows skipped: {'; '.join(history.skip_reasons[:2])}"
        signals.append(Signal("no-loss", Severity.UNSURE, detail))
    else:
        lr = history.get(names.lr) if names.lr is not None else None
        signals += loss_signals(history.get(names.loss), names.loss, thresholds, lr)
    if names.eval is not None:
        signals += eval_signals(history.get(names.eval), names.eval, baseline, thresholds)
    if names.lr is not None:
        signals += lr_signals(history.get(names.lr), names.lr, thresholds)
    if names.grad_norm is not None:
        signals += grad_signals(history.get(names.grad_norm), names.grad_norm, thresholds)
    stalled = stalled_signal(idle_seconds, thresholds)
    if stalled is not None:
        signals.append(stalled)
    worst = max((s.severity for s in signals), default=Severity.NOTE)
    signals.sort(key=lambda s: -s.severity)
    return Judgment(history.last_step, _VERDICT_OF[worst], tuple(signals))


def stalled_signal(idle_seconds: float | None, th: Thresholds) -> Signal | None:
    """Unsure when a running run has logged nothing new for `stalled_minutes`."""
    if idle_seconds is None or idle_seconds < th.stalled_minutes * 60:
        return None
    minutes = idle_seconds / 60
    detail = f"the run says it is running but logged no new step for {minutes:.0f} min"
    return Signal("stalled", Severity.UNSURE, detail, {"idle_minutes": minutes})
