"""Text charts: Unicode sparklines and Mermaid `xychart-beta` blocks (GitHub renders them)."""

from __future__ import annotations

import numpy as np

from ..model import Series

_BARS = "▁▂▃▄▅▆▇█"


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


def _axis_number(value: float) -> str:
    return f"{value:.4g}"


def mermaid_chart(series: Series, title: str, y_label: str, points: int = 20) -> str | None:
    """A Mermaid line chart of the series' recent finite values, or None if too short."""
    recent = downsample(series, points)
    if len(recent) < 2:
        return None
    low, high = float(recent.values.min()), float(recent.values.max())
    if low > 0 and high / low > 1000:  # an explosion: only a log scale shows both ends
        recent = Series(recent.steps, np.log10(recent.values))
        low, high = float(recent.values.min()), float(recent.values.max())
        title, y_label = f"{title} (log10)", f"log10 {y_label}"
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    safe_title = title.replace('"', "'")
    safe_label = y_label.replace('"', "'")
    x_axis = ", ".join(str(int(s)) for s in recent.steps)
    line = ", ".join(_axis_number(float(v)) for v in recent.values)
    return "\n".join(
        [
            "```mermaid",
            "xychart-beta",
            f'  title "{safe_title}"',
            f"  x-axis [{x_axis}]",
            f'  y-axis "{safe_label}" {_axis_number(low - pad)} --> {_axis_number(high + pad)}',
            f"  line [{line}]",
            "```",
        ]
    )
