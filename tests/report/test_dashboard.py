"""The dashboard: one row per run, notices, schedule, and GitHub's size limit."""

from __future__ import annotations

import re
from collections.abc import Callable

from markdown_it import MarkdownIt

from training_check.report.markdown import escape
from training_check.report.render import GITHUB_COMMENT_LIMIT, render_dashboard
from training_check.report.views import RunView, Status

MakeView = Callable[..., RunView]
NOW = 1_795_749_240.0  # 2026-11-27 03:14 UTC, when the views of conftest.py were checked


def rows(gfm: MarkdownIt, text: str) -> list[list[str]]:
    """The cells of the body rows of the (single) table."""
    body = re.search(r"<tbody>(.*)</tbody>", gfm.render(text), re.DOTALL)
    assert body is not None
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def three_runs(make_view: MakeView) -> list[RunView]:
    return [
        make_view(),
        make_view(
            name="sweep-lr3e-4",
            url=None,
            status=Status.HEALTHY,
            status_detail="",
            step=8100,
            loss_text="2.871",
            vs_baseline="-0.040",
            next_due=NOW + 3600,
            interval_minutes=60,
        ),
        make_view(
            name="ft-small",
            url=None,
            status=Status.SNOOZED,
            status_detail="by @alice until 05:00",
            next_due=NOW + 1200,
            interval_minutes=20,
        ),
    ]


def test_the_dashboard_has_the_marker_a_title_and_one_row_per_run(make_view: MakeView, gfm: MarkdownIt) -> None:
    text = render_dashboard(three_runs(make_view), [], NOW)
    lines = text.split("\n")
    assert lines[0] == "<!-- training-check:dashboard -->"
    assert lines[1] == "## training-check · 3 runs · updated 2026-11-27 03:14 UTC"
    assert lines[5] == (
        "| [pretrain-a](https://wandb.ai/my-team/llm-pretrain/runs/3kx9a2) | 🔴 stopped: NaN loss | 12,400 "
        "| NaN | ▅▄▃▂▂▅█ | +0.021 (worse) vs base01 | 03:14 | — |"
    )
    table = rows(gfm, text)
    assert len(table) == 3 and all(len(r) == 8 for r in table)
    assert table[1][0] == "sweep-lr3e-4" and table[1][7] == "04:14 (60 min)"
    assert table[2][1] == "⏸ snoozed: by @\u200balice until 05:00"  # shown, but no mention
    assert text.rstrip().endswith("Next check 03:34 UTC (`ft-small`, checked every 20 min).")


def test_notices_and_a_given_schedule_follow_the_table(make_view: MakeView, gfm: MarkdownIt) -> None:
    notices = ["`gpu3` could not be reached\n(timed out)", "entry 6: <!-- @bob [x](javascript:y)"]
    text = render_dashboard(three_runs(make_view), notices, NOW, schedule="Schedule: every 10 min (`*/10 * * * *`).")
    assert (
        "\n\n⚠️ `gpu3` could not be reached (timed out)\n⚠️ entry 6: &lt;!-- @\u200bbob \\[x\\](javascript:y)\n" in text
    )
    assert text.endswith("\n\nSchedule: every 10 min (`*/10 * * * *`).\n")
    assert text.count("<!--") == 1
    assert "<a " not in gfm.render(text).replace('<a href="https://wandb.ai/', "")


def test_no_runs_says_so(make_view: MakeView) -> None:
    text = render_dashboard([], [], NOW)
    assert "## training-check · 0 runs ·" in text
    assert "No runs are watched yet" in text and "|---|" not in text


def test_a_single_run_is_not_plural(make_view: MakeView) -> None:
    assert "· 1 run ·" in render_dashboard([make_view()], [], NOW)


def hostile_runs(make_view: MakeView, count: int) -> list[RunView]:
    return [
        make_view(
            name=f"run-{i:03d}|`@bob`<!--[x](javascript:alert({i}))-->" + "_*~" * 10,
            url=f"https://wandb.ai/team-{i}/project-with-a-long-name/runs/{'r' * 40}",
            status=Status.UNSURE if i % 2 else Status.STOPPED,
            status_detail=f"`train/loss` is odd: {'very long reason | @bob ' * 40}",
            vs_baseline="+0.021 (worse) vs " + "b" * 200,
        )
        for i in range(count)
    ]


def test_200_hostile_runs_fit_with_every_name_and_status(make_view: MakeView, gfm: MarkdownIt) -> None:
    runs = hostile_runs(make_view, 200)
    text = render_dashboard(runs, ["a notice " * 100] * 50, NOW)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    table = rows(gfm, text)
    assert len(table) == 200
    for run, row in zip(runs, table, strict=True):
        assert escape(run.name) in text
        assert row[1].startswith(run.status.value)
    assert text.count("<!--") == 1
    assert "⚠️ a notice" in text  # notices are shortened, not lost


def test_reserve_leaves_room_for_the_bot_state(make_view: MakeView, gfm: MarkdownIt) -> None:
    runs = hostile_runs(make_view, 200)
    full = render_dashboard(runs[:3], [], NOW)
    assert render_dashboard(runs[:3], [], NOW, reserve=40_000) == full  # nothing to shorten
    text = render_dashboard(runs, [], NOW, reserve=40_000)
    assert len(text) <= GITHUB_COMMENT_LIMIT - 40_000
    table = rows(gfm, text)
    assert len(table) == 200 and all(row[1] in (Status.UNSURE.value, Status.STOPPED.value) for row in table)


def test_thousands_of_runs_show_what_fits_and_count_the_rest(make_view: MakeView, gfm: MarkdownIt) -> None:
    runs = hostile_runs(make_view, 3000)
    text = render_dashboard(runs, ["n"], NOW)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    shown = len(rows(gfm, text))
    assert 500 < shown < 3000
    assert f"… and {3000 - shown} more runs not shown" in text
    assert "## training-check · 3000 runs" in text
