"""Plain-text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..model import Judgment, Verdict
from ..replay import ReplayCheck
from .markdown import number, utc_time
from .views import RunView

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


def dashboard_table(views: Sequence[RunView], title: str) -> Table:
    """The dashboard as a rich table for the terminal."""
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("run", "status", "step", "loss", "trend", "checked", "next"):
        table.add_column(column, overflow="fold")
    for v in views:
        detail = v.status_detail if len(v.status_detail) <= 60 else v.status_detail[:59] + "…"
        status = v.status.value + (f": {detail}" if detail else "")
        nxt = f"{utc_time(v.next_due)} ({v.interval_minutes} min)" if v.next_due else "—"
        table.add_row(v.name, status, number(v.step), v.loss_text, v.trend, utc_time(v.checked_at), nxt)
    return table


def show_cycle(
    console: Console,
    views: Sequence[RunView],
    verdicts: Sequence[tuple[str, str]],
    notices: Sequence[str],
    title: str,
) -> None:
    """Print one cycle: the dashboard, the verdicts posted and the notices."""
    console.print(dashboard_table(views, title))
    for notice in notices:
        console.print(f"[yellow]⚠ {escape(notice)}[/yellow]")
    for name, markdown in verdicts:
        headline = next((line[4:] for line in markdown.splitlines() if line.startswith("### ")), name)
        done = next((line for line in markdown.splitlines() if line.startswith("**Done:**")), "")
        console.print(f"  [bold]{escape(headline)}[/bold]")
        if done:
            console.print(f"    {escape(done.replace('**', ''))}")
