"""Signals of the eval metric: against the baseline, and against its own best."""

from __future__ import annotations

import numpy as np

from ..model import Baseline, Series, Severity, Signal
from .robust import fmt, fmt_step
from .thresholds import Thresholds

# Names of eval metrics where a higher value is better.
_HIGHER_IS_BETTER = (
    "acc",
    "accuracy",
    "f1",
    "auc",
    "bleu",
    "rouge",
    "score",
    "precision",
    "recall",
    "map",
    "iou",
)


def higher_is_better(name: str) -> bool:
    """Whether a larger value of the metric `name` means a better model."""
    leaf = name.lower().replace("-", "_").replace("/", "_").split("_")
    return any(part in _HIGHER_IS_BETTER for part in leaf) and "loss" not in name.lower()


def eval_signals(series: Series, name: str, baseline: Baseline | None, th: Thresholds) -> list[Signal]:
    """Every signal about the eval metric `name`."""
    finite = np.isfinite(series.values)
    if not finite.all():
        first = int(series.steps[np.flatnonzero(~finite)[0]])
        detail = f"`{name}` is {fmt(float(series.values[~finite][0]))} at step {fmt_step(first)}"
        return [Signal("non-finite", Severity.UNSURE, detail, {"step": float(first)})]
    sign = -1.0 if higher_is_better(name) else 1.0
    signals = [rising(series, name, sign, th)]
    if baseline is not None:
        signals.append(against_baseline(series, name, baseline, sign, th))
    return [s for s in signals if s is not None]


def change(worse: float) -> str:
    """A relative change for people: a percentage, or a factor when it is huge."""
    return f"{100 * worse:+.0f}%" if abs(worse) < 10 else f"{1 + worse:.3g}× its best"


def rising(series: Series, name: str, sign: float, th: Thresholds) -> Signal | None:
    """The last evaluations all stand well off the metric's own best: overfitting?

    Unsure only while they keep getting worse; evals that bounce around after a spike
    in the training loss are only noted.
    """
    n = th.eval_sustain
    if series.values.size <= n:
        return None
    earlier, last = series.values[:-n], series.values[-n:]
    best = float(earlier.min()) if sign > 0 else float(earlier.max())
    worse = sign * (last - best) / max(abs(best), 1e-12)
    if worse.min() <= th.eval_rise:
        return None
    detail = (
        f"`{name}` has been worse than its best {fmt(best)} for the last {n} evaluations "
        f"(now {fmt(float(last[-1]))}, {change(float(worse[-1]))})"
    )
    numbers = {"best": best, "latest": float(last[-1])}
    if bool(np.all(np.diff(sign * last) >= 0)):
        return Signal("eval-rising", Severity.UNSURE, f"{detail} and keeps getting worse", numbers)
    return Signal("eval-rising", Severity.NOTE, detail, numbers)


def against_baseline(series: Series, name: str, baseline: Baseline, sign: float, th: Thresholds) -> Signal | None:
    """Compare the last evaluations with the baseline at the same steps.

    Against a baseline run, clearly worse at the same steps is bad. Against a fixed number
    (usually a finished run's result), being worse while still improving is only early.
    """
    n = th.eval_sustain
    if series.values.size < n:
        return None
    steps, last = series.steps[-n:], series.values[-n:]
    refs = [baseline.at(int(s)) for s in steps]
    if any(r is None for r in refs):
        return None
    ref = np.array(refs, dtype=np.float64)
    worse = sign * (last - ref) / np.maximum(np.abs(ref), 1e-12)
    latest = float(last[-1])
    numbers = {"latest": latest, "baseline": float(ref[-1]), "worse_by": float(worse[-1])}
    head = f"`{name}` {fmt(latest)} vs {baseline.label} {fmt(float(ref[-1]))} ({100 * worse[-1]:+.1f}%)"
    if worse.min() <= th.eval_margin:
        return None
    still_improving = baseline.series is None and improving(series, sign, th)
    if still_improving:
        return Signal("eval-vs-baseline", Severity.NOTE, f"{head}; still improving", numbers)
    if worse.min() > th.eval_bad_margin:
        return Signal("eval-vs-baseline", Severity.BAD, f"{head}, for the last {n} evaluations", numbers)
    return Signal("eval-vs-baseline", Severity.UNSURE, f"{head}, slightly worse", numbers)


def improving(series: Series, sign: float, th: Thresholds) -> bool:
    """Whether the best of the last evaluations beats everything before them."""
    n = th.eval_sustain
    if series.values.size <= n:
        return True
    earlier, last = sign * series.values[:-n], sign * series.values[-n:]
    best_before = float(earlier.min())
    return float(last.min()) < best_before - th.eval_margin * abs(best_before)
