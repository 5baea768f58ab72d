"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from ..model import Judgment, Verdict
from ..replay import ReplayCheck

_MARK = {Verdict.FINE: "🟢 fine", Verdict.UNSURE: "🟡 unsure", Verdict.BAD: "🔴 bad"}


def _reason(judgment: Judgment) -> str:
    reasons = judgment.reasons
    if not reasons:
        return ""
    return "; ".join(f"{s.name}: {s.detail}" for s in reasons)


def _key(check: ReplayCheck) -> tuple[str, str, tuple[str, ...]]:
    j = check.judgment
    return check.file, j.verdict.value, tuple(s.name for s in j.reasons)


def replay_table(checks: Sequence[ReplayCheck]) -> str:
    """Checks grouped by file; consecutive checks with the same verdict share a row."""
    lines: list[str] = []
    for file, per_file in groupby(checks, key=lambda c: c.file):
        rows = list(per_file)
        lines.append(f"\n{file}")
        for _, group in groupby(rows, key=_key):
            same = list(group)
            first, last = same[0].judgment, same[-1].judgment
            span = f"{first.step:,}" if len(same) == 1 else f"{first.step:,}–{last.step:,}"
            lines.append(f"  {span:>15}  {_MARK[last.verdict]:<9}  {_reason(last)}".rstrip())
        bad = next((c.judgment.step for c in rows if c.judgment.verdict is Verdict.BAD), None)
        unsure = sum(c.judgment.verdict is Verdict.UNSURE for c in rows)
        ending = f"first bad at step {bad:,}" if bad is not None else "never bad"
        lines.append(f"  {len(rows)} checks · {ending} · {unsure} unsure")
    return "\n".join(lines).lstrip("\n")
