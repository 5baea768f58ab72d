"""`HistoryBuilder.add_columns` against `add`: the same rows give the same History, by columns or one by one."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training_check.model import StepArray
from training_check.sources.rows import Column, HistoryBuilder
from training_check.sources.values import MAX_STEP

Row = tuple[int, dict[str, float]]
NAN = math.nan


def columns_of(rows: list[Row]) -> tuple[StepArray, dict[str, Column]]:
    """The steps and columns of `rows`, the metrics in order of first appearance in the rows kept."""
    kept = (name for step, metrics in rows if 0 <= step <= MAX_STEP for name in metrics)
    cells: dict[str, tuple[list[int], list[float]]] = {name: ([], []) for name in kept}
    for number, (_, metrics) in enumerate(rows):
        for name, value in metrics.items():
            cells.setdefault(name, ([], []))
            cells[name][0].append(number)
            cells[name][1].append(value)
    steps = np.array([step for step, _ in rows], dtype=np.int64)
    return steps, {name: (np.array(at, dtype=np.intp), np.array(values)) for name, (at, values) in cells.items()}


def one_by_one(blocks: list[list[Row]], builder: HistoryBuilder | None = None) -> HistoryBuilder:
    builder = builder or HistoryBuilder()
    builder.where = "line 3"
    for block in blocks:
        for step, metrics in block:
            builder.add(step, metrics)
    return builder


def by_columns(blocks: list[list[Row]], builder: HistoryBuilder | None = None) -> HistoryBuilder:
    builder = builder or HistoryBuilder()
    builder.where = "line 3"
    for block in blocks:
        builder.add_columns(*columns_of(block))
    return builder


def assert_same(a: HistoryBuilder, b: HistoryBuilder) -> None:
    """The same builder state and the same History, down to the order of the series."""
    state = ("rows_read", "rows_skipped", "ignored", "last_step", "first_problem")
    assert [getattr(a, name) for name in state] == [getattr(b, name) for name in state]
    one, other = a.build(), b.build()
    assert list(one.series) == list(other.series)
    assert one.rows_read == other.rows_read and one.rows_skipped == other.rows_skipped
    assert one.skip_reasons == other.skip_reasons
    for name, series in one.series.items():
        assert series.steps.dtype == other.series[name].steps.dtype == np.int64
        assert np.array_equal(series.steps, other.series[name].steps), name
        assert np.array_equal(series.values, other.series[name].values, equal_nan=True), name


def test_duplicates_out_of_order_and_refused_steps() -> None:
    rows: list[Row] = [
        (5, {"loss": 2.0, "lr": 0.1}),
        (6, {"loss": 1.9}),
        (6, {"loss": 1.8, "acc": 0.5}),  # duplicate step, another value: noted, the later kept
        (3, {"loss": 2.5}),  # out of order: sorted
        (7, {"lr": 0.1}),
        (7, {"lr": 0.1}),  # duplicate step, the same value: not worth a note
        (-1, {"loss": 9.0}),  # refused: negative
        (MAX_STEP + 1, {"loss": 9.0}),  # refused: out of range
        (8, {}),  # nothing in it: ignored, its step unused
        (-4, {}),  # ignored before its step is looked at, as `add` does
        (2, {"loss": NAN, "acc": 0.25}),
    ]
    fast, slow = by_columns([rows]), one_by_one([rows])
    assert_same(fast, slow)
    built = fast.build()
    assert built.series["loss"].steps.tolist() == [2, 3, 5, 6]
    assert built.series["loss"].values.tolist()[1:] == [2.5, 2.0, 1.8]
    assert list(built.series) == ["loss", "lr", "acc"]
    assert (built.rows_read, built.rows_skipped, fast.ignored, fast.last_step) == (7, 2, 2, 2)
    assert built.skip_reasons == (
        "1 line: negative step (at line 3: -1)",
        f"1 line: step out of range (at line 3: {MAX_STEP + 1})",
        "1 duplicate step, the later value kept",
        "2 lines out of step order, sorted",
    )


def test_blocks_follow_rows_added_one_by_one() -> None:
    # The order state (highest step so far, last step) carries from `add` into a block and on.
    before: list[Row] = [(10, {"loss": 1.0})]
    block: list[Row] = [(4, {"loss": 2.0}), (11, {"b": 1.0, "loss": 0.5}), (10, {"loss": 0.75})]
    after: list[Row] = [(9, {"b": 2.0})]
    fast = one_by_one([before])
    by_columns([block], fast)
    one_by_one([after], fast)
    assert_same(fast, one_by_one([before, block, after]))
    assert fast.build().skip_reasons == ("1 duplicate step, the later value kept", "3 lines out of step order, sorted")


def test_an_empty_block_or_a_block_of_empty_rows_changes_only_the_ignored_count() -> None:
    builder = HistoryBuilder()
    builder.add(3, {"loss": 1.0})
    builder.add_columns(np.empty(0, dtype=np.int64), {})
    builder.add_columns(np.array([-5, 7], dtype=np.int64), {"loss": (np.empty(0, dtype=np.intp), np.empty(0))})
    assert (builder.rows_read, builder.ignored, builder.last_step, builder.rows_skipped) == (1, 2, 3, 0)
    assert list(builder.build().series) == ["loss"]


def test_a_metric_only_in_refused_rows_is_not_made() -> None:
    rows: list[Row] = [(-1, {"ghost": 1.0, "loss": 1.0}), (1, {"loss": 2.0})]
    fast = by_columns([rows])
    assert_same(fast, one_by_one([rows]))
    assert list(fast.build().series) == ["loss"]


metric_rows = st.lists(
    st.tuples(
        st.one_of(st.integers(-2, 12), st.just(MAX_STEP + 1)),
        st.dictionaries(
            st.sampled_from(["loss", "lr", "acc", "eval/loss"]),
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0])),
            max_size=4,
        ),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(rows=metric_rows, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_any_rows_in_any_blocks_give_what_add_gives(rows: list[Row], cuts: list[int]) -> None:
    bounds = sorted({0, len(rows), *(min(cut, len(rows)) for cut in cuts)})
    blocks = [rows[lo:hi] for lo, hi in pairwise(bounds)]
    assert_same(by_columns(blocks), one_by_one([rows]))
