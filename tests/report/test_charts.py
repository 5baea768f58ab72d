"""Sparklines, downsampling and Mermaid xychart blocks, rendered for real."""

from __future__ import annotations

import re

import numpy as np
import pytest

from support.histories import NAMES, history, series
from training_check.model import Series
from training_check.report.charts import downsample, mermaid_chart, sparkline
from training_check.report.views import loss_chart

BARS = set("▁▂▃▄▅▆▇█")
NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"  # what Mermaid's xychart lexer reads as a number
LINES = [
    re.compile(r"```mermaid"),
    re.compile(r"xychart-beta"),
    re.compile(r'  title "(?P<title>[^"`\n]*)"'),
    re.compile(r"  x-axis \[(?P<x>\d+(?:, \d+)*)\]"),
    re.compile(rf'  y-axis "(?P<label>[^"`\n]*)" (?P<low>{NUMBER}) --> (?P<high>{NUMBER})'),
    re.compile(rf"  line \[(?P<line>{NUMBER}(?:, {NUMBER})*)\]"),
    re.compile(r"```"),
]


def parse(block: str) -> dict[str, str]:
    """The parts of a chart, asserting each line is valid xychart-beta as we write it."""
    lines = block.split("\n")
    assert len(lines) == len(LINES), block
    parts: dict[str, str] = {}
    for pattern, line in zip(LINES, lines, strict=True):
        match = pattern.fullmatch(line)
        assert match, f"{line!r} is not {pattern.pattern!r}"
        parts.update(match.groupdict())
    return parts


def check(block: str | None) -> tuple[dict[str, str], list[float]]:
    """A valid chart: range low < high, as many values as x labels, all within the range."""
    assert block is not None
    parts = parse(block)
    low, high = float(parts["low"]), float(parts["high"])
    values = [float(v) for v in parts["line"].split(", ")]
    assert low < high
    assert len(values) == len(parts["x"].split(", "))
    assert all(low <= v <= high for v in values)
    return parts, values


# ---- sparkline --------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 7, 16, 40])
def test_a_sparkline_has_the_width_asked_for(width: int) -> None:
    line = sparkline(series(np.linspace(3, 1, 500)), width=width)
    assert len(line) == (width if width >= 2 else 0)
    assert set(line) <= BARS


def test_a_sparkline_of_few_points_has_one_character_per_point() -> None:
    assert len(sparkline(series(np.array([3.0, 2.0, 1.0])), width=16)) == 3


def test_a_sparkline_goes_from_the_lowest_to_the_highest_bar() -> None:
    rising = sparkline(series(np.arange(16.0)))
    assert rising[0] == "▁" and rising[-1] == "█"
    assert list(rising) == sorted(rising)
    assert sparkline(series(np.arange(16.0)[::-1])) == rising[::-1]


def test_a_flat_series_is_a_flat_line() -> None:
    assert sparkline(series(np.full(50, 2.5)), width=7) == "▄" * 7
    assert sparkline(series(np.full(50, 0.0)), width=7) == "▄" * 7


def test_nan_and_inf_are_skipped() -> None:
    values = np.array([1.0, np.nan, 2.0, np.inf, 3.0, -np.inf])
    assert sparkline(series(values)) == "▁▅█"


@pytest.mark.parametrize("values", [[], [1.0], [np.nan, 1.0, np.inf], [np.nan, np.nan]])
def test_fewer_than_two_finite_points_give_no_sparkline(values: list[float]) -> None:
    assert sparkline(series(np.array(values, dtype=np.float64))) == ""


# ---- downsample -------------------------------------------------------------------------


def test_downsample_takes_block_medians_and_keeps_the_newest_point() -> None:
    s = series(np.arange(103.0))
    small = downsample(s, 10)
    assert len(small) == 10
    assert int(small.steps[-1]) == 102  # the newest step is kept
    assert int(small.steps[0]) == 12  # the 3 oldest points that do not fill a block are dropped
    assert small.values[0] == pytest.approx(np.median(np.arange(3.0, 13.0)))
    assert np.all(np.diff(small.steps) == 10)


def test_downsample_drops_non_finite_points_and_keeps_short_series_whole() -> None:
    s = series(np.array([1.0, np.nan, 2.0, np.inf, 3.0]))
    small = downsample(s, 10)
    assert small.steps.tolist() == [0, 2, 4]
    assert small.values.tolist() == [1.0, 2.0, 3.0]


# ---- Mermaid ----------------------------------------------------------------------------


def test_a_chart_is_valid_xychart_syntax() -> None:
    parts, values = check(mermaid_chart(series(np.linspace(2.6, 2.0, 400), every=5), "run: loss", "loss"))
    assert parts["title"] == "run: loss"
    assert parts["label"] == "loss"
    assert len(values) == 20
    assert parts["x"].split(", ")[-1] == "1995"


def test_an_explosion_is_charted_in_log10_and_says_so() -> None:
    values = np.concatenate([np.linspace(2.0, 0.5, 300), np.geomspace(0.5, 4e6, 40)])
    parts, line = check(mermaid_chart(series(values), "run: loss", "loss"))
    assert parts["title"] == "run: loss (log10)"
    assert parts["label"] == "log10 loss"
    assert max(line) > 4  # block medians: the newest block is well above 1e4
    assert min(line) < 0  # the old level, below 1, is still visible


def test_no_log_scale_without_an_explosion_and_no_exponent_in_large_numbers() -> None:
    parts, line = check(mermaid_chart(series(np.linspace(1e6, 5e8, 100)), "t", "loss"))
    assert "log10" not in parts["title"]
    assert max(line) > 1e8
    # zero or negative values can never be on a log axis
    parts, _ = check(mermaid_chart(series(np.array([0.0, 1.0, 5000.0])), "t", "loss"))
    assert "log10" not in parts["title"]


@pytest.mark.parametrize(
    "values",
    [
        np.full(30, 7.0),  # flat
        np.zeros(30),  # flat at zero
        1e6 + np.linspace(0, 1e-3, 30),  # a tiny range around a large value
        np.linspace(1e-9, 2e-9, 30),  # tiny values
        np.linspace(-5, -1, 30),  # negative
    ],
)
def test_the_y_axis_always_has_low_below_high(values: np.ndarray) -> None:
    check(mermaid_chart(series(values), "t", "loss"))


def test_quotes_backticks_and_newlines_in_titles_are_neutralised() -> None:
    title = 'evil"run`\n```\n<!-- x --> #quot; {}'
    block = mermaid_chart(series(np.linspace(3, 1, 30)), title, 'lo"ss\n```')
    parts, _ = check(block)
    assert block is not None and block.count("```") == 2
    assert "<!--" not in block and "-->" not in parts["title"]


def test_too_few_finite_points_give_no_chart() -> None:
    assert mermaid_chart(series(np.array([1.0, np.nan, np.inf])), "t", "loss") is None
    assert mermaid_chart(Series.empty(), "t", "loss") is None


def test_the_loss_chart_names_the_run_the_metric_and_the_steps() -> None:
    h = history(train_loss=series(np.r_[np.linspace(3, 1, 99), np.nan], every=10, start=100))
    parts, _ = check(loss_chart(h, NAMES, "pretrain-a"))
    assert parts["title"] == "pretrain-a: train/loss (finite values), steps 100–1,080"
    assert loss_chart(h, NAMES.__class__(), "x") is None
