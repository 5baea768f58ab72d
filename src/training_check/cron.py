"""The workflow's own cron: it follows the most urgent watched run.

GitHub runs scheduled workflows late when many fire at once, above all at :00 and :30,
so minutes are offset. The rewrite touches only the expression of the first `cron:`
line of the workflow file; every other byte stays as the user wrote it.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

# When nothing is watched: still wake up now and then to read new commands.
DORMANT_HOURS = 6
_CRON_LINE = re.compile(
    r"^(?P<head>\s*-\s*cron:\s*)(?P<quote>['\"]?)(?P<expr>[^'\"\n#]*?)(?P=quote)(?P<tail>[ \t]*(#[^\n]*)?)$", re.M
)


def minute_offset(repository: str) -> int:
    """A minute in 1..9 from the repository's name: spreads repositories, never :00."""
    return 1 + zlib.crc32(repository.encode()) % 9


def cron_for(intervals_minutes: Iterable[int], repository: str) -> str:
    """The cron expression for the shortest interval among active runs (dormant if none)."""
    offset = minute_offset(repository)
    shortest = min(intervals_minutes, default=None)
    if shortest is None:
        return f"{offset + 10} */{DORMANT_HOURS} * * *"
    if shortest >= 60:
        hours = max(1, shortest // 60)
        return f"{offset} * * * *" if hours == 1 else f"{offset} */{hours} * * *"
    step = max(5, shortest)
    return f"{offset}-59/{step} * * * *"


def current_cron(workflow: str) -> str | None:
    """The expression of the first `cron:` line, or None when the file has none."""
    match = _CRON_LINE.search(workflow)
    return match.group("expr").strip() if match else None


def rewrite_cron(workflow: str, expression: str) -> str:
    """The workflow with its first `cron:` expression replaced, nothing else changed."""
    if not re.fullmatch(r"[0-9*/,\- ]+", expression):
        raise ValueError(f"not a cron expression: {expression!r}")
    match = _CRON_LINE.search(workflow)
    if match is None:
        raise ValueError("the workflow has no `cron:` line under `schedule:`")
    quote = match.group("quote") or "'"
    line = f"{match.group('head')}{quote}{expression}{quote}{match.group('tail')}"
    return workflow[: match.start()] + line + workflow[match.end() :]
