"""Signals of the optimiser's own metrics: learning rate and gradient norm."""

from __future__ import annotations

import math

import numpy as np

from ..model import Series, Severity, Signal
from .robust import fmt, fmt_step
from .thresholds import LrSchedule, Thresholds

# A trailing run of non-finite gradient norms this long is no longer a skipped step.
_GRAD_NONFINITE_BAD = 3


def lr_signals(lr: Series, name: str, th: Thresholds) -> list[Signal]:
    """Learning rate zero, negative, non-finite, or off the declared schedule."""
    if lr.values.size == 0:
        return []
    latest, at = float(lr.values[-1]), int(lr.steps[-1])
    if not math.isfinite(latest):
        return [Signal("lr", Severity.UNSURE, f"`{name}` is {fmt(latest)} at step {fmt_step(at)}")]
    if latest < 0:
        return [Signal("lr", Severity.UNSURE, f"`{name}` is negative ({fmt(latest)}) at step {fmt_step(at)}")]
    if th.lr_schedule is not None:
        return off_schedule(lr, name, th.lr_schedule, th.lr_tolerance)
    return stuck_at_zero(lr, name)


def stuck_at_zero(lr: Series, name: str) -> list[Signal]:
    """Unsure when lr has been exactly 0 for a while after having been positive."""
    positive = np.flatnonzero(lr.values > 0)
    if positive.size == 0 or lr.values[-1] != 0:
        return []
    since_index = int(positive[-1]) + 1
    since = int(lr.steps[since_index])
    zero_steps = int(lr.steps[-1]) - since
    if lr.values.size - since_index < 3 or zero_steps < 0.02 * int(lr.steps[-1]):
        return []
    detail = f"`{name}` has been 0 since step {fmt_step(since)}: the model is no longer learning"
    return [Signal("lr", Severity.UNSURE, detail, {"since_step": float(since)})]


def expected_lr(schedule: LrSchedule, step: int) -> float:
    """The learning rate the declared schedule gives at `step`."""
    if step < schedule.warmup_steps:
        return schedule.peak * step / schedule.warmup_steps
    if schedule.kind == "constant" or schedule.total_steps is None:
        return schedule.peak
    span = max(1, schedule.total_steps - schedule.warmup_steps)
    progress = min(1.0, (step - schedule.warmup_steps) / span)
    shape = 0.5 * (1.0 + math.cos(math.pi * progress)) if schedule.kind == "cosine" else 1.0 - progress
    return schedule.final + (schedule.peak - schedule.final) * shape


def off_schedule(lr: Series, name: str, schedule: LrSchedule, tolerance: float) -> list[Signal]:
    """Unsure when the last three logged lr values are off the declared schedule."""
    last = range(max(0, lr.values.size - 3), lr.values.size)
    gaps = [abs(lr.values[i] - expected_lr(schedule, int(lr.steps[i]))) for i in last]
    if min(gaps) <= tolerance * schedule.peak:
        return []
    want = expected_lr(schedule, int(lr.steps[-1]))
    detail = (
        f"`{name}` is {fmt(float(lr.values[-1]))} at step {fmt_step(int(lr.steps[-1]))}, "
        f"but the declared {schedule.kind} schedule gives {fmt(want)}"
    )
    return [Signal("lr", Severity.UNSURE, detail, {"expected": want, "actual": float(lr.values[-1])})]


def grad_signals(grad: Series, name: str, th: Thresholds) -> list[Signal]:
    """Gradient norm non-finite, exploding or vanishing."""
    if grad.values.size == 0:
        return []
    finite = np.isfinite(grad.values)
    if not finite[-1]:
        return [trailing_non_finite(grad, name, finite)]
    signals = []
    if not finite.all():
        first = int(grad.steps[np.flatnonzero(~finite)[0]])
        detail = f"`{name}` was non-finite at step {fmt_step(first)} and is finite again"
        signals.append(Signal("grad-norm", Severity.NOTE, detail, {"step": float(first)}))
    size_signal = grad_size(grad.steps[finite], grad.values[finite], name, th)
    if size_signal is not None:
        signals.append(size_signal)
    return signals


def trailing_non_finite(grad: Series, name: str, finite: np.ndarray) -> Signal:
    """Bad once several newest gradient norms in a row are non-finite; unsure before."""
    good = np.flatnonzero(finite)
    since_index = int(good[-1]) + 1 if good.size else 0
    count = grad.values.size - since_index
    since = int(grad.steps[since_index])
    detail = f"`{name}` is {fmt(float(grad.values[-1]))} since step {fmt_step(since)} ({count} values)"
    severity = Severity.BAD if count >= _GRAD_NONFINITE_BAD else Severity.UNSURE
    return Signal("non-finite", severity, detail, {"since_step": float(since), "count": float(count)})


def grad_size(steps: np.ndarray, values: np.ndarray, name: str, th: Thresholds) -> Signal | None:
    """Compare the newest gradient-norm level with its median over the run before it."""
    if values.size < 20:
        return None
    recent = steps >= steps[-1] - th.level_steps
    earlier = values[~recent]
    if earlier.size < 10:
        return None
    stride = max(1, earlier.size // 100_000)  # a fixed-size sample keeps long runs fast
    reference = float(np.median(earlier[earlier.size // 10 :: stride]))
    level = float(np.median(values[recent]))
    if reference <= 0:
        return None
    ratio = level / reference
    numbers = {"level": level, "reference": reference, "ratio": ratio}
    if ratio > th.grad_explode_factor:
        detail = f"`{name}` is {fmt(level)}, {ratio:.0f}× its usual {fmt(reference)}: exploding"
        return Signal("grad-norm", Severity.UNSURE, detail, numbers)
    if ratio < th.grad_vanish_factor:
        detail = f"`{name}` is {fmt(level)}, {ratio:.1e}× its usual {fmt(reference)}: vanishing"
        return Signal("grad-norm", Severity.UNSURE, detail, numbers)
    return None
