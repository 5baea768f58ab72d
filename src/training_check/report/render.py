"""Render reports from the jinja2 templates shipped with the package, within GitHub's size limit.

A comment longer than `GITHUB_COMMENT_LIMIT` is refused, so each report is rendered in
steps of shortening until it fits, dropping what matters least first:

- a verdict drops its chart, then metrics rows from the end, then shortens the signal
  details and shows fewer signals, and last shortens the action; the headline, the
  marker and the **Done:** line always stay;
- the dashboard keeps one row per run with its name and status, and shortens the status
  details, then drops links and columns; only if even that cannot fit (thousands of runs)
  does it leave rows out and say how many.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import jinja2

from .markdown import cell, code, escape, inline, link, marker, number, one_line, shorten, utc_time
from .views import RunView, headline, schedule_line

GITHUB_COMMENT_LIMIT = 65_536  # characters; GitHub refuses longer comments
NAME_LIMIT = 120  # run names are at most 64 characters in the watch list
_DETAIL_LIMITS = (1000, 300, 100)  # signal details, step by step
_SIGNALS_SHOWN = 10  # at the last step
MIN_DETAIL = 40  # dashboard: shorter status details than this, and links go first

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("training_check.report", "templates"),
    autoescape=False,  # Markdown, not HTML: untrusted text goes through the filters below
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.filters.update(
    md=escape, code=code, cell=cell, inline=inline, link=link, marker=marker, utc=utc_time, number=number
)

__all__ = ["GITHUB_COMMENT_LIMIT", "headline", "render_dashboard", "render_verdict"]


# ---- verdict ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cut:
    """How far a verdict is shortened (None: not at all)."""

    chart: bool = True
    metrics: int | None = None  # rows kept
    detail: int | None = None  # characters per signal detail
    signals: int | None = None  # signals shown
    action: int | None = None  # characters of the action
    reason: int = 300  # characters of the headline's reason


def _verdict(run: RunView, cut: _Cut) -> str:
    """The verdict text of `run` shortened as `cut` says, with a note saying what was left out."""
    signals = run.judgment.signals if run.judgment else ()
    kept = signals[: cut.signals]
    shown = tuple(replace(s, detail=shorten(s.detail, cut.detail)) for s in kept)
    metrics = run.metrics[: cut.metrics]
    action = shorten(run.action, cut.action)
    notes = [
        "the chart was left out" if run.chart and not cut.chart else "",
        f"{len(run.metrics) - len(metrics)} of {len(run.metrics)} metrics left out" if metrics != run.metrics else "",
        "signal details shortened" if shown != kept else "",
        "the action shortened" if action != one_line(run.action) else "",
    ]
    return _ENV.get_template("verdict.md.j2").render(
        run=replace(run, chart=run.chart if cut.chart else None, metrics=metrics, action=action),
        headline=headline(run, cut.reason),
        signals=shown,
        hidden_signals=len(signals) - len(shown),
        shortened=", ".join(n for n in notes if n),
    )


def _longest_fitting(render: Callable[[int], str], longest: int, budget: int) -> str:
    """render(n) for the largest n in [0, longest] whose text fits the budget (or n = 0)."""
    low, high = 0, longest
    while low < high:
        middle = (low + high + 1) // 2
        if len(render(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return render(low)


def render_verdict(run: RunView) -> str:
    """The verdict text of one run, shortened step by step to fit a GitHub comment.

    No cut, then without the chart, then with as many metrics rows as fit, then with shorter
    signal details, then fewer signals, then a shorter action.
    """
    run = replace(run, name=shorten(run.name, NAME_LIMIT))

    def fits(text: str) -> bool:
        return len(text) <= GITHUB_COMMENT_LIMIT

    for cut in (_Cut(), _Cut(chart=False)):
        if fits(text := _verdict(run, cut)):
            return text
    if run.metrics:
        rows = len(run.metrics) - 1
        text = _longest_fitting(lambda keep: _verdict(run, _Cut(chart=False, metrics=keep)), rows, GITHUB_COMMENT_LIMIT)
        if fits(text):
            return text
    cut = _Cut(chart=False, metrics=0)
    for limit in _DETAIL_LIMITS:
        if fits(text := _verdict(run, cut := replace(cut, detail=limit))):
            return text
    cut = replace(cut, signals=_SIGNALS_SHOWN, reason=100)
    if fits(text := _verdict(run, cut)):
        return text
    # Only a huge action text is left (a reviewer's answer, say): shorten it to what fits.
    text = _longest_fitting(
        lambda length: _verdict(run, replace(cut, action=length)), len(one_line(run.action)), GITHUB_COMMENT_LIMIT
    )
    return text[:GITHUB_COMMENT_LIMIT]  # never cuts: names are capped, the rest is short


# ---- dashboard --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Squeeze:
    """How far the dashboard is shortened."""

    detail: int | None = None  # characters of status details and eval-vs-baseline texts
    notice: int | None = None  # characters of each notice
    notices: int | None = None  # how many notices
    links: bool = True
    compact: bool = False  # only run, status, step, loss, next
    name: int = NAME_LIMIT
    rows: int | None = None  # how many runs get a row


# When the whole dashboard does not fit: each layout with the longest details that fit.
_LAYOUTS = (
    (_Squeeze(notice=300, notices=20), MIN_DETAIL),  # links kept if details keep this much
    (_Squeeze(notice=300, notices=20, links=False), 0),
    (_Squeeze(notice=120, notices=5, links=False, compact=True), 0),
    (_Squeeze(notice=120, notices=5, links=False, compact=True, name=32), 0),
)


def _squeezed(run: RunView, how: _Squeeze) -> RunView:
    return replace(
        run,
        name=shorten(run.name, how.name),
        url=run.url if how.links else None,
        status_detail=shorten(run.status_detail, how.detail),
        vs_baseline=shorten(run.vs_baseline, how.detail),
    )


def _dashboard(runs: Sequence[RunView], notices: Sequence[str], how: _Squeeze, **context: object) -> str:
    shown = [shorten(n, how.notice) for n in notices[: how.notices]]
    return _ENV.get_template("dashboard.md.j2").render(
        total=len(runs),
        runs=[_squeezed(r, how) for r in runs[: how.rows]],
        hidden_runs=len(runs) - len(runs[: how.rows]),
        notices=shown,
        hidden_notices=len(notices) - len(shown),
        compact=how.compact,
        **context,
    )


def render_dashboard(
    runs: Sequence[RunView],
    notices: Sequence[str],
    updated_at: float,
    schedule: str = "",
    reserve: int = 0,
) -> str:
    """The dashboard: one table row per run, the notices, when the next check is.

    `schedule` (Markdown; by default when the next check is due) ends the text. The text is
    at most `GITHUB_COMMENT_LIMIT - reserve` characters, leaving `reserve` free for what the
    caller appends (the bot state); only when even the title does not fit is it longer.
    When the whole dashboard does not fit, status details are shortened (as little as
    needed), then links, columns and long names go, and as a last resort rows.
    """
    budget = GITHUB_COMMENT_LIMIT - max(0, reserve)
    context = {"updated_at": updated_at, "schedule": inline(schedule) if schedule else schedule_line(runs)}

    def render(how: _Squeeze) -> str:
        return _dashboard(runs, notices, how, **context)

    if len(text := render(_Squeeze())) <= budget:
        return text
    longest = max((len(one_line(t)) for r in runs for t in (r.status_detail, r.vs_baseline)), default=0)
    for layout, least in _LAYOUTS:
        if len(render(replace(layout, detail=least))) <= budget:

            def with_detail(n: int, layout: _Squeeze = layout) -> str:
                return render(replace(layout, detail=n))

            return _longest_fitting(with_detail, longest, budget)  # at least `least`: it fits
    # Thousands of runs: show as many rows as fit and say how many are left out.
    last = replace(_LAYOUTS[-1][0], detail=0, notices=0)
    return _longest_fitting(lambda rows: render(replace(last, rows=rows)), len(runs), budget)
