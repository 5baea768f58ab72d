"""Replay recorded histories as if the run had been checked every N steps (a backtest)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .analysis import Thresholds, judge
from .config import MetricKeys
from .model import History, Judgment, MetricNames
from .sources import detect_names


@dataclass(frozen=True)
class ReplayCheck:
    """One check of a replayed file."""

    file: str
    judgment: Judgment

    def as_json(self) -> dict[str, object]:
        """The line `replay --format json` prints for this check."""
        return {
            "file": self.file,
            "step": self.judgment.step,
            "verdict": self.judgment.verdict.value,
            "signals": [{"name": s.name, "detail": s.detail} for s in self.judgment.signals],
        }


def check_steps(first_step: int, last_step: int, every: int) -> list[int]:
    """Steps N, 2N, 3N, … up to the last step, plus the last step if not a multiple.

    Checks before the first logged step would see nothing and are left out.
    """
    steps = [s for s in range(every, last_step + 1, every) if s >= first_step]
    if last_step % every != 0 or not steps:
        steps.append(last_step)
    return steps


def metric_names(history: History, keys: MetricKeys) -> MetricNames:
    """The history keys playing each role, detected or as configured."""
    return detect_names(
        history.series.keys(), loss=keys.loss, eval=keys.eval, lr=keys.lr, grad_norm=keys.grad_norm
    )


def replay(
    file: str, history: History, every: int, keys: MetricKeys, thresholds: Thresholds
) -> Iterator[ReplayCheck]:
    """Judge the history at each check step, each check seeing only steps up to it."""
    names = metric_names(history, keys)
    first = min((int(s.steps[0]) for s in history.series.values() if len(s)), default=0)
    last = history.last_step
    if last is None:
        return
    for step in check_steps(first, last, every):
        judgment = judge(history.up_to(step), names, thresholds)
        yield ReplayCheck(file, Judgment(step, judgment.verdict, judgment.signals))
