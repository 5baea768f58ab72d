"""Helpers to build metric histories in tests."""

from __future__ import annotations

import numpy as np

from training_check.model import History, MetricNames, Series

NAMES = MetricNames(loss="train/loss", eval="eval/loss", lr="lr", grad_norm="grad_norm")


def series(values: np.ndarray, every: int = 1, start: int = 0) -> Series:
    """A series logged every `every` steps from `start`."""
    steps = start + every * np.arange(values.size, dtype=np.int64)
    return Series(steps, np.asarray(values, dtype=np.float64))


def history(**metrics: Series) -> History:
    """A history from keyword series; `train_loss` becomes `train/loss` etc."""
    rename = {"train_loss": "train/loss", "eval_loss": "eval/loss"}
    return History({rename.get(k, k): v for k, v in metrics.items()})


def decaying(n: int, noise: float, seed: int = 0) -> np.ndarray:
    """A healthy-looking loss: exponential decay to 0.3 with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 2.3 * np.exp(-t / (n / 5)) + 0.3 + rng.normal(0, noise, n)
