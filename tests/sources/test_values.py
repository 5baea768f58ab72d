"""parse_number and parse_step: every spelling a logger writes, and what is not a number."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training_check.sources.values import parse_number, parse_step, snippet


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (3, 3.0),
        (-2, -2.0),
        (2.5, 2.5),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        ("1e-3", 0.001),
        (" 2.5 ", 2.5),
        ("+4", 4.0),
        ("-0.25", -0.25),
        (".5", 0.5),
        ("Infinity", math.inf),
        ("-Infinity", -math.inf),
        ("+Infinity", math.inf),
        ("inf", math.inf),
        ("-inf", -math.inf),
        ("+inf", math.inf),
        ("INF", math.inf),
        ("Inf", math.inf),
        ("infinity", math.inf),
        (math.inf, math.inf),
        (-math.inf, -math.inf),
        (10**400, math.inf),
        (-(10**400), -math.inf),
    ],
    ids=lambda raw: repr(raw)[:20],
)
def test_numbers_and_infinities(raw: object, expected: float) -> None:
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["NaN", "nan", "-nan", "+nan", "NAN", " nan ", math.nan, float("-nan")])
def test_every_nan_spelling(raw: object) -> None:
    number = parse_number(raw)
    assert number is not None
    assert math.isnan(number)


@pytest.mark.parametrize(
    "raw",
    [
        None,
        True,
        False,
        np.bool_(True),
        "",
        "   ",
        "abc",
        "2.3.4",
        "1_000",
        "nan?",
        "0x10",
        {"_type": "histogram", "values": [1, 2], "bins": [0, 1, 2]},
        [1.0, 2.0],
        (1.0,),
        b"1.0",
    ],
)
def test_not_numbers(raw: object) -> None:
    assert parse_number(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12, 12),
        (12.0, 12),
        ("12", 12),
        (" 12 ", 12),
        ("12.0", 12),
        ("1e3", 1000),
        (-5, -5),
        ("-5", -5),
        (0, 0),
        (2**53, 2**53),
        ("9007199254740993", None),  # beyond 2**53: a float could not hold it
        (12.5, None),
        ("12.5", None),
        ("abc", None),
        ("", None),
        (math.nan, None),
        (math.inf, None),
        ("nan", None),
        (True, None),
        (None, None),
        ([12], None),
        ("1" * 5000, None),
    ],
)
def test_parse_step(raw: object, expected: int | None) -> None:
    assert parse_step(raw) == expected


def test_snippet_is_short_quoted_and_printable() -> None:
    assert snippet("loss") == "'loss'"
    long = snippet("x" * 500)
    assert len(long) == 60
    assert long.endswith("…")
    binary = snippet("\x00\x01\x1b[2Jabc")
    assert "\x00" not in binary
    assert "\x1b" not in binary
    assert "\\x00" in binary
