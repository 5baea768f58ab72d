"""Collect metric rows, one by one or a block at a time by columns, and turn them into a `History` once, at the end."""

from __future__ import annotations

from array import array
from collections.abc import Container, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from training_check.model import History, Series, StepArray, ValueArray
from training_check.sources.values import MAX_STEP

# Step keys, most preferred first: W&B's own `_step`, then the usual framework names.
STEP_KEYS = (
    "_step",
    "step",
    "global_step",
    "trainer/global_step",
    "train/global_step",
    "iteration",
    "iter",
)
MAX_REASONS = 10

IndexArray = npt.NDArray[np.intp]
# A metric's cells in a block of rows: the rows (ascending, each once) and their values.
Column = tuple[IndexArray, ValueArray]


def pick_step_key(keys: Container[str]) -> str | None:
    """The preferred step key present among `keys`, or None."""
    return next((key for key in STEP_KEYS if key in keys), None)


@dataclass
class _Tally:
    unit: str
    where: str | None  # of the first occurrence only
    example: str | None
    count: int = 0


class HistoryBuilder:
    """Accumulates rows, then builds a `History` of sorted, de-duplicated series.

    Rows are kept as per-metric `array.array`s (16 bytes a point) and converted to
    numpy once, so a file of a million rows costs tens of megabytes, not gigabytes.
    """

    def __init__(self, unit: str = "line") -> None:
        self.unit = unit
        self.where: str | None = None  # where the reader is ("line 12"), for messages
        self.first_problem: str | None = None
        self.rows_read = 0
        self.rows_skipped = 0
        self.ignored = 0  # rows that carried no metric at all (banners, step-only rows)
        self.last_step: int | None = None
        self._max_step = -1
        self._out_of_order = 0
        self._steps: dict[str, array[int]] = {}
        self._values: dict[str, array[float]] = {}
        self._tallies: dict[str, _Tally] = {}

    def add(self, step: int | None, metrics: Mapping[str, float]) -> None:
        """Add one row; `step` None means the step after the previous row's (0 first)."""
        if not metrics:
            self.ignored += 1
            return
        if step is None:
            step = 0 if self.last_step is None else self.last_step + 1
        elif step < 0:
            self.skip("negative step", str(step))
            return
        elif step > MAX_STEP:  # parse_step never gives one; other readers might
            self.skip("step out of range", str(step))
            return
        if step < self._max_step:
            self._out_of_order += 1
        else:
            self._max_step = step
        self.last_step = step
        self.rows_read += 1
        for name, value in metrics.items():
            steps = self._steps.get(name)
            if steps is None:
                steps = self._steps[name] = array("q")
                self._values[name] = array("d")
            steps.append(step)
            self._values[name].append(value)

    def add_columns(self, steps: StepArray, columns: Mapping[str, Column]) -> None:
        """Add `len(steps)` rows at once, exactly as `add` would add them one by one, in order.

        Row i has the step `steps[i]` (explicit: no None) and, for each `name: (rows, values)`
        of `columns`, `values[j]` under `name` where `rows[j] == i`. A row in no column is
        ignored, like an empty one for `add`. New metrics are made in the order of their first
        rows kept, those that share it in the order of `columns`: list the metrics in order
        of first appearance in the rows kept for `add`'s order of `History.series`.
        """
        held = np.zeros(steps.size, dtype=bool)
        for rows, _ in columns.values():
            held[rows] = True
        refused = held & ((steps < 0) | (steps > MAX_STEP))
        self.ignored += int(steps.size - np.count_nonzero(held))
        for step in steps[refused].tolist():  # rare: counted one by one, as `add` counts them
            self.skip("negative step" if step < 0 else "step out of range", str(step))
        keep = held & ~refused
        kept = steps[keep]
        if not kept.size:
            return
        # The highest step before each row: a row below it is out of order, as in `add`.
        highest = np.maximum.accumulate(np.concatenate(([self._max_step], kept)))
        self._out_of_order += int(np.count_nonzero(kept < highest[:-1]))
        self._max_step, self.last_step = int(highest[-1]), int(kept[-1])
        self.rows_read += int(kept.size)
        cells = [
            (name, rows[used], values[used]) for name, (rows, values) in columns.items() if (used := keep[rows]).any()
        ]
        cells.sort(key=lambda cell: int(cell[1][0]))  # stable: by first row, then as given
        for name, rows, values in cells:
            if name not in self._steps:
                self._steps[name], self._values[name] = array("q"), array("d")
            self._steps[name].frombytes(steps[rows].astype(np.int64, copy=False).tobytes())
            self._values[name].frombytes(values.astype(np.float64, copy=False).tobytes())

    def skip(self, reason: str, example: str | None = None) -> None:
        """Count a row that was dropped, under a short reason shared by its kind."""
        self.rows_skipped += 1
        self._tally(reason, self.unit, example)

    def note(self, reason: str, example: str | None = None, unit: str = "value") -> None:
        """Count a problem that did not drop its row (a cell that is not a number)."""
        self._tally(reason, unit, example)

    def _tally(self, reason: str, unit: str, example: str | None) -> None:
        if self.first_problem is None:
            detail = f" ({example})" if example else ""
            self.first_problem = f"{self.where}: {reason}{detail}" if self.where else reason
        tally = self._tallies.get(reason)
        if tally is None:
            tally = self._tallies[reason] = _Tally(unit, self.where, example)
        tally.count += 1

    def build(self) -> History:
        """The history read so far; O(n log n) at worst, O(n) for ordered input."""
        series: dict[str, Series] = {}
        duplicated: list[StepArray] = []
        for name, raw in self._steps.items():
            steps = np.frombuffer(raw, dtype=np.int64).copy()
            values = np.frombuffer(self._values[name], dtype=np.float64).copy()
            series[name], dup_steps = _ordered(steps, values)
            duplicated.append(dup_steps)
        n_dup = int(np.unique(np.concatenate(duplicated)).size) if duplicated else 0
        return History(series, self.rows_read, self.rows_skipped, self._reasons(n_dup))

    def _reasons(self, n_duplicate_steps: int) -> tuple[str, ...]:
        reasons = [_describe(reason, tally) for reason, tally in self._tallies.items()]
        if n_duplicate_steps:
            reasons.append(f"{_count(n_duplicate_steps, 'duplicate step')}, the later value kept")
        if self._out_of_order:
            reasons.append(f"{_count(self._out_of_order, self.unit)} out of step order, sorted")
        if len(reasons) > MAX_REASONS:
            rest = len(reasons) - (MAX_REASONS - 1)
            reasons = [*reasons[: MAX_REASONS - 1], f"and {rest} more kinds of problem"]
        return tuple(reasons)


def _ordered(steps: StepArray, values: ValueArray) -> tuple[Series, StepArray]:
    """The series sorted by step with one value per step, and the steps that repeated."""
    if steps.size > 1 and bool(np.any(steps[1:] < steps[:-1])):
        # Stable, so rows with the same step stay in file order and "later wins" holds.
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
    keep = np.ones(steps.size, dtype=bool)
    keep[:-1] = steps[1:] != steps[:-1]  # keep the last of each run of equal steps
    if keep.all():
        return Series(steps, values), np.empty(0, np.int64)
    # Only a step logged with different values is worth a note: Lightning's train and
    # val rows repeat `epoch` at the same step, and HF's eval lines repeat it too.
    dropped = np.flatnonzero(~keep)
    now, later = values[dropped], values[dropped + 1]
    same = (now == later) | (np.isnan(now) & np.isnan(later))
    return Series(steps[keep], values[keep]), steps[dropped[~same]]


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _describe(reason: str, tally: _Tally) -> str:
    """E.g. "4 lines: not valid JSON (first at line 7: '{"loss": 2.')"."""
    where = ("first at " if tally.count > 1 else "at ") + tally.where if tally.where else ""
    detail = ": ".join(part for part in (where, tally.example) if part)
    return f"{_count(tally.count, tally.unit)}: {reason}" + (f" ({detail})" if detail else "")
