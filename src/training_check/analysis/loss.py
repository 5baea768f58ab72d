"""Signals of the training loss: non-finite values, divergence, spikes and plateaus."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import Series, Severity, Signal, StepArray, ValueArray
from .robust import block_levels, block_size, fmt, fmt_step, level_sigma, noise_sigma
from .thresholds import Thresholds


@dataclass(frozen=True)
class Levels:
    """The loss smoothed into block medians, with what the divergence rule needs."""

    ends: StepArray  # last step of each block
    starts: StepArray  # first step of each block
    values: ValueArray  # median of each block
    initial: float  # median of the first few points: where the run started
    best: float  # lowest level so far
    best_step: int
    limit: float  # a level above this is "risen"


def loss_signals(loss: Series, name: str, th: Thresholds, lr: Series | None = None) -> list[Signal]:
    """Every signal about the loss series `loss` (logged under `name`); `lr` when logged."""
    signals = non_finite(loss, name, Severity.BAD)
    finite = np.isfinite(loss.values)
    steps, values = loss.steps[finite], loss.values[finite]
    if values.size < th.min_points:
        signals.append(
            Signal(
                "too-early",
                Severity.NOTE,
                f"only {values.size} finite `{name}` values so far; too early to judge",
                {"points": float(values.size)},
            )
        )
        return signals
    levels = smooth(steps, values, th)
    for signal in (rise(levels, name, th, lr), plateau(levels, name, th)):
        if signal is not None:
            signals.append(signal)
    if not any(s.name in ("spike", "rising", "diverging") for s in signals):
        signal = spike(steps, values, name, th)
        if signal is not None:
            signals.append(signal)
    return signals


def non_finite(series: Series, name: str, severity: Severity) -> list[Signal]:
    """A signal when any value of the series is NaN or infinite."""
    bad = ~np.isfinite(series.values)
    if not bad.any():
        return []
    where = np.flatnonzero(bad)
    first = int(series.steps[where[0]])
    kind = fmt(float(series.values[where[0]]))
    detail = f"`{name}` is {kind} from step {fmt_step(first)} ({where.size} values so far)"
    if where[-1] != series.values.size - 1:
        detail += f"; finite again at step {fmt_step(int(series.steps[-1]))}"
    return [Signal("non-finite", severity, detail, {"step": float(first), "count": float(where.size)})]


def smooth(steps: StepArray, values: ValueArray, th: Thresholds) -> Levels:
    """Block levels of the loss, its best level and the limit above which it has risen."""
    size = block_size(steps, th.level_steps)
    ends, medians = block_levels(steps, values, size)
    if medians.size == 0:  # fewer points than one block: every point is a level
        size, ends, medians = 1, steps, values
    first_index = values.size - medians.size * size
    starts = steps[first_index::size]
    best_index = int(np.argmin(medians))
    best = float(medians[best_index])
    initial = float(np.median(values[: min(5, values.size)]))
    # Noise is measured where the run was healthy: up to its best level.
    healthy_end = first_index + (best_index + 1) * size
    sigma = level_sigma(noise_sigma(values[max(0, healthy_end - 2000) : max(healthy_end, 50)]), size)
    learned = max(initial - best, 0.0)
    margin = max(th.diverge_fraction * learned, th.diverge_relative * abs(best), th.diverge_noise_z * sigma)
    return Levels(ends, starts, medians, initial, best, int(ends[best_index]), best + margin)


def rising_since(lr: Series | None, step: int) -> bool:
    """Whether the learning rate has been going up since `step` (warming up, or a range test)."""
    if lr is None:
        return False
    recent = lr.values[(lr.steps >= step) & np.isfinite(lr.values)]
    return recent.size >= 2 and float(recent[-1]) > 1.02 * float(recent[0])


def rise(lv: Levels, name: str, th: Thresholds, lr: Series | None = None) -> Signal | None:
    """Diverging (bad) when the level stays risen and is not coming back; else unsure."""
    risen = lv.values > lv.limit
    if not risen[-1]:
        return None
    below = np.flatnonzero(~risen)
    first = int(below[-1]) + 1 if below.size else 0
    stretch = lv.values[first:]
    since = int(lv.starts[first])
    duration = int(lv.ends[-1]) - since
    peak, latest = float(stretch.max()), float(stretch[-1])
    numbers = {
        "best": lv.best, "best_step": float(lv.best_step), "latest": latest, "peak": peak,
        "limit": lv.limit, "since_step": float(since), "steps_risen": float(duration),
    }  # fmt: skip
    rose = (
        f"`{name}` rose from its best {fmt(lv.best)} (step {fmt_step(lv.best_step)}) "
        f"to {fmt(latest)}, above {fmt(lv.limit)} since step {fmt_step(since)}"
    )
    if latest - lv.best < (1.0 - th.recovery_fraction) * (peak - lv.best):
        detail = f"{rose}, but is coming back down from {fmt(peak)}"
        return Signal("spike", Severity.UNSURE, detail, numbers)
    # A run that already rose this high since its best and came back is volatile: a rise
    # must last twice as long before it counts as divergence, unless the learning rate is
    # still climbing (an instability a rising lr drives does not settle by itself).
    earlier = lv.values[(lv.ends > lv.best_step) & (lv.ends < since)] > lv.limit
    patience = 2 if earlier.any() and not rising_since(lr, since) else 1
    sustained = duration >= patience * th.diverge_min_steps and stretch.size >= patience * th.diverge_min_levels
    if sustained:
        return Signal("diverging", Severity.BAD, f"{rose} ({fmt_step(duration)} steps)", numbers)
    return Signal("rising", Severity.UNSURE, f"{rose}; too short to call yet", numbers)


def plateau(lv: Levels, name: str, th: Thresholds) -> Signal | None:
    """Unsure when the best level barely improved over a long recent window."""
    last = int(lv.ends[-1])
    window = max(th.plateau_min_steps, int(th.plateau_fraction * last))
    before = lv.values[lv.ends < last - window]
    within = lv.values[lv.ends >= last - window]
    if before.size < 2 or within.size < 2:
        return None
    best_before, best_within = float(before.min()), float(within.min())
    improvement = best_before - best_within
    if improvement >= th.plateau_min_improvement * abs(best_before):
        return None
    detail = (
        f"`{name}` has not improved over the last {fmt_step(window)} steps "
        f"(best {fmt(best_within)}, before that {fmt(best_before)})"
    )
    numbers = {"window_steps": float(window), "best_before": best_before, "best_within": best_within}
    return Signal("plateau", Severity.UNSURE, detail, numbers)


def spike(steps: StepArray, values: ValueArray, name: str, th: Thresholds) -> Signal | None:
    """Note the largest recent spike; unsure while the newest point is itself a spike.

    The first tenth of the run is left out: its fast early descent is not noise.
    """
    recent = (steps >= steps[-1] - 1000) & (steps >= steps[0] + (steps[-1] - steps[0]) // 10)
    tail_steps, tail = steps[recent], values[recent]
    if tail.size < 5:
        return None
    size = max(5, block_size(tail_steps, th.level_steps) | 1)
    padded = np.pad(tail, size // 2, mode="edge")
    local = np.median(np.lib.stride_tricks.sliding_window_view(padded, size), axis=1)
    sigma = max(noise_sigma(tail), 1e-3 * float(np.median(np.abs(tail))))
    excess = (tail - local) / sigma if sigma > 0 else np.zeros_like(tail)
    worst = int(np.argmax(excess))
    if excess[worst] < th.spike_factor:
        return None
    at, value = int(tail_steps[worst]), float(tail[worst])
    numbers = {"step": float(at), "value": value, "factor": float(excess[worst])}
    head = f"`{name}` spiked to {fmt(value)} at step {fmt_step(at)} ({excess[worst]:.0f}× its normal variation)"
    if worst >= tail.size - 2:
        return Signal("spike", Severity.UNSURE, f"{head}, at the newest values", numbers)
    now = float(np.median(tail[-size:]))
    return Signal("spike", Severity.NOTE, f"{head}; at {fmt(now)} now", numbers)
