"""Robust statistics on metric series: block levels, noise scale, formatting of numbers."""

from __future__ import annotations

import math

import numpy as np

from ..model import StepArray, ValueArray

# Median absolute deviation -> standard deviation, for normal noise.
_MAD_TO_SIGMA = 1.4826


def typical_gap(steps: StepArray) -> float:
    """The usual number of steps between two logged points (from the recent part)."""
    if steps.size < 2:
        return 1.0
    return max(1.0, float(np.median(np.diff(steps[-1001:]))))


def block_size(steps: StepArray, level_steps: int) -> int:
    """How many points make one level block so that a block spans about `level_steps`."""
    return max(1, round(level_steps / typical_gap(steps)))


def block_levels(steps: StepArray, values: ValueArray, size: int) -> tuple[StepArray, ValueArray]:
    """Medians of consecutive blocks of `size` points, aligned to the newest point.

    Blocks end at the latest point so the newest level always has a full block; the oldest
    points that do not fill a block are left out. Returns the last step of each block and
    its median.
    """
    count = values.size // size
    if count == 0:
        return steps[:0], values[:0]
    start = values.size - count * size
    blocks = values[start:].reshape(count, size)
    levels = np.median(blocks, axis=1) if size > 1 else blocks[:, 0].copy()
    return steps[start + size - 1 :: size], levels


def noise_sigma(values: ValueArray) -> float:
    """Robust standard deviation of point-to-point noise (trend-insensitive)."""
    if values.size < 3:
        return 0.0
    diffs = np.diff(values)
    mad = float(np.median(np.abs(diffs - np.median(diffs))))
    return _MAD_TO_SIGMA * mad / math.sqrt(2.0)


def level_sigma(point_sigma: float, size: int) -> float:
    """Standard deviation of a median of `size` noisy points."""
    return 1.2533 * point_sigma / math.sqrt(size)


def fmt(value: float) -> str:
    """A metric value for people: four significant digits, NaN and Inf spelled out."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


def fmt_step(step: int) -> str:
    """A step number for people, with thousands separators."""
    return f"{step:,}"
