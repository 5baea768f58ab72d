"""Text charts: Unicode sparklines and Mermaid `xychart-beta` blocks (GitHub renders them)."""

from __future__ import annotations

import math

import numpy as np

from ..model import Series
from .markdown import shorten

_BARS = "▁▂▃▄▅▆▇█"
# Characters that could end a Mermaid string, start an entity code (`#quot;`) or a fence.
_LABEL_SAFE = str.maketrans(
    {'"': "'", "`": "'", "<": "‹", ">": "›", "&": "+", "#": " ", ";": ",", "\\": "/", "{": "(", "}": ")"}
)
EXPLOSION_RATIO = 1000.0  # max/min above this: the chart switches to log10


def downsample(series: Series, points: int) -> Series:
    """At most `points` finite points: medians of equal consecutive blocks, newest last."""
    finite = np.isfinite(series.values)
    steps, values = series.steps[finite], series.values[finite]
    if values.size <= points:
        return Series(steps, values)
    size = values.size // points
    start = values.size - size * points
    blocks = values[start:].reshape(points, size)
    return Series(steps[start + size - 1 :: size], np.median(blocks, axis=1))


def sparkline(series: Series, width: int = 16) -> str:
    """A trend in `width` characters (finite values only; empty for < 2 points)."""
    values = downsample(series, width).values
    if values.size < 2:
        return ""
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return _BARS[3] * values.size
    scaled = (values - low) / (high - low) * (len(_BARS) - 1)
    return "".join(_BARS[round(x)] for x in scaled)


def mermaid_label(text: str, limit: int = 100) -> str:
    """Text for a quoted Mermaid title or axis label: one line, nothing that ends the string."""
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return shorten(printable.translate(_LABEL_SAFE), limit)


def _digits(low: float, high: float) -> int:
    """Significant digits that tell apart values 1/100 of the axis range apart (at least 4)."""
    magnitude = max(abs(low), abs(high))
    if magnitude == 0:
        return 4
    needed = math.ceil(math.log10(magnitude * 100 / (high - low))) + 1
    return min(17, max(4, needed))


def _decimal(value: float, digits: int) -> str:
    """A number as Mermaid reads it: plain decimal digits, never an exponent."""
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-")


def mermaid_chart(series: Series, title: str, y_label: str, points: int = 20) -> str | None:
    """A Mermaid line chart of the series' recent finite values, or None if too short.

    When the values span more than `EXPLOSION_RATIO` (a loss that exploded) the chart shows
    log10 of them, said in its title, so that both the old level and the explosion show.
    """
    recent = downsample(series, points)
    if len(recent) < 2:
        return None
    low, high = float(recent.values.min()), float(recent.values.max())
    if low > 0 and high / low > EXPLOSION_RATIO:
        recent = Series(recent.steps, np.log10(recent.values))
        low, high = float(recent.values.min()), float(recent.values.max())
        title, y_label = f"{title} (log10)", f"log10 {y_label}"
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    bottom, top = low - pad, high + pad
    if not (math.isfinite(bottom) and math.isfinite(top) and bottom < top):
        return None  # beyond what a float axis can show
    digits = _digits(bottom, top)
    x_axis = ", ".join(str(int(s)) for s in recent.steps)
    line = ", ".join(_decimal(float(v), digits) for v in recent.values)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'  title "{mermaid_label(title)}"',
            f"  x-axis [{x_axis}]",
            f'  y-axis "{mermaid_label(y_label, 40)}" {_decimal(bottom, digits)} --> {_decimal(top, digits)}',
            f"  line [{line}]",
            "```",
        ]
    )
