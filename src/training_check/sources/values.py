"""Turning raw cell and field values into numbers and steps."""

from __future__ import annotations

import math
import numbers
import re

# Steps beyond 2**53 cannot round-trip through a float, and no real run gets there.
MAX_STEP = 2**53
# Plain integers are parsed exactly (a float would round big ones); the length cap keeps
# int() away from its digit limit.
_INTEGER = re.compile(r"[-+]?[0-9]{1,19}")


def parse_number(value: object) -> float | None:
    """The value as a float, or None when it is not a number.

    Accepts ints and floats (not bools) and strings in any usual spelling, including
    every NaN and infinity spelling (`NaN`, `-nan`, `Infinity`, `+inf`, `INF`, ...)
    and surrounding whitespace. Anything else (None, dicts such as W&B histogram
    objects, lists, text) gives None: a metric that is not a number is not an error.
    """
    if type(value) is float:  # the common case first: this runs once per value read
        return value
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return _int_to_float(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # numpy scalars
        return float(value)
    return None


def _int_to_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:  # an int too large for a float is, for our purposes, infinite
        return math.inf if value > 0 else -math.inf


def _parse_text(text: str) -> float | None:
    text = text.strip()
    # float() would also take "1_000"; no logger writes that, so treat it as text.
    if not text or "_" in text:
        return None
    try:
        return float(text)  # float() knows nan, -nan, inf, +inf, infinity in any case
    except ValueError:
        return None


def parse_step(value: object) -> int | None:
    """The value as a step number, or None when it is not a whole number.

    `12`, `12.0` and `"12"` are step 12; `12.5`, `"abc"`, NaN, bools and steps beyond
    2**53 are None. Negative numbers come back as they are: skipping them is the
    builder's decision, so it can say why.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        step = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        step = int(value)
    else:
        number = parse_number(value)
        if number is None or not math.isfinite(number) or not number.is_integer():
            return None
        step = int(number)
    return step if abs(step) <= MAX_STEP else None


def snippet(text: str, limit: int = 60) -> str:
    """A short, printable, quoted excerpt of `text` for messages (never raw binary)."""
    shown = repr(text[: limit + 16].strip())  # repr escapes control characters
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
