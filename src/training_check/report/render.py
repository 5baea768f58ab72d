"""Render reports from the jinja2 templates shipped with the package."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import jinja2

from ..model import Verdict
from .markdown import code, escape, number, utc_time
from .views import RunView, Status

# GitHub refuses comments longer than this.
GITHUB_COMMENT_LIMIT = 65_536
_HEADLINE_MARK = {Verdict.FINE: "🟢", Verdict.UNSURE: "🟡", Verdict.BAD: "🔴"}


def _cell(text: object) -> str:
    """Text for a table cell: one line, pipes escaped, backticks kept for inline code."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _marker(text: object) -> str:
    """A run name inside an HTML comment or a command hint: no comment end, no spaces."""
    return "".join(ch for ch in str(text) if ch.isalnum() or ch in "-_./")


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("training_check.report", "templates"),
    autoescape=False,  # Markdown, not HTML: untrusted text goes through the md/cell filters
    keep_trailing_newline=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters.update(md=escape, code=code, cell=_cell, marker=_marker, utc=utc_time, number=number)
_ENV.filters["oneline"] = lambda text: " ".join(str(text).split())


def headline(run: RunView) -> str:
    """The title line of a verdict: mark, run, what happened."""
    verdict = run.judgment.verdict if run.judgment else None
    if run.status in (Status.STOPPED, Status.WOULD_STOP):
        what = "stopped" if run.status is Status.STOPPED else "would be stopped (dry run)"
    elif run.status in (Status.FINISHED, Status.UNREACHABLE, Status.ERROR, Status.SNOOZED):
        what = run.status.value.split(" ", 1)[1]
    else:
        what = verdict.value if verdict else "not judged"
    mark = _HEADLINE_MARK.get(verdict, "⚪") if verdict else "⚪"
    reason = run.judgment.reasons[0].detail if run.judgment and run.judgment.reasons else run.status_detail
    reason = " ".join(reason.split())
    return f"{mark} {code(run.name)} {what}" + (f" — {reason}" if reason else "")


def render_verdict(run: RunView) -> str:
    """The verdict text of one run, trimmed to fit a GitHub comment."""
    text = _ENV.get_template("verdict.md.j2").render(run=run, headline=headline(run))
    if len(text) <= GITHUB_COMMENT_LIMIT:
        return text
    trimmed = replace(run, chart=None, metrics=())
    return _ENV.get_template("verdict.md.j2").render(run=trimmed, headline=headline(trimmed))[
        :GITHUB_COMMENT_LIMIT
    ]


def render_dashboard(
    runs: Sequence[RunView], notices: Sequence[str], updated_at: float, schedule: str = ""
) -> str:
    """The dashboard: one table row per run, then the notices."""
    return _ENV.get_template("dashboard.md.j2").render(
        runs=runs, notices=notices, updated_at=updated_at, schedule=schedule
    )
