"""Making untrusted text safe inside Markdown tables and inline code."""

from __future__ import annotations

import re
from datetime import datetime, timezone

_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def escape(text: object) -> str:
    """Text that renders literally in Markdown, on one line (run names, metric names…)."""
    one_line = " ".join(str(text).split())
    return _SPECIAL.sub(r"\\\1", one_line)


def code(text: object) -> str:
    """Inline code that cannot be broken out of (backticks inside are replaced)."""
    return "`" + " ".join(str(text).split()).replace("`", "'") + "`"


def utc_time(epoch: float | None, with_date: bool = False) -> str:
    """An epoch time as `HH:MM` (or `YYYY-MM-DD HH:MM UTC`); a dash for None."""
    if epoch is None:
        return "—"
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC" if with_date else "%H:%M")


def number(value: int | None) -> str:
    """A step count with thousands separators, or empty."""
    return "" if value is None else f"{value:,}"
