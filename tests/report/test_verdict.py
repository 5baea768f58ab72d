"""The verdict text: its parts, its safety with hostile names, and GitHub's size limit."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from markdown_it import MarkdownIt

from training_check.model import Judgment, Severity, Signal, Verdict
from training_check.report.render import GITHUB_COMMENT_LIMIT, render_verdict
from training_check.report.views import MetricLine, RunView, Status, headline

MakeView = Callable[..., RunView]
NOW = 1_795_749_240.0  # 2026-11-27 03:14 UTC, when the views of conftest.py were checked
HOSTILE_NAME = "x --> <!-- `@bob` | [a](javascript:alert(1))\n### y"


def test_the_verdict_has_every_part_in_order(make_view: MakeView) -> None:
    text = render_verdict(make_view(next_due=NOW + 600))
    lines = text.split("\n")
    assert lines[0] == "<!-- training-check:verdict run=pretrain-a step=12400 -->"
    assert lines[1] == ("### 🔴 `pretrain-a` stopped — `train/loss` is NaN from step 12,380 (20 steps so far)")
    assert lines[3] == (
        "[my-team/llm-pretrain/3kx9a2](https://wandb.ai/my-team/llm-pretrain/runs/3kx9a2)"
        " · step 12,400 of 50,000 · host `gpu1` · checked 2026-11-27 03:14 UTC"
    )
    expected_in_order = [
        "| signal | what we saw |",
        "| non-finite | `train/loss` is NaN from step 12,380 (20 steps so far) |",
        "| grad-norm | 48.1 at step 12,350, 31× its median |",
        "| metric | last | best | trend | vs baseline |",
        "| train/loss | NaN @ 12,400 | 2.214 @ 11,900 | ▇▆▅▄▃▂▂▃▅█ |  |",
        "| eval/loss | 2.291 @ 12,000 | 2.291 @ 12,000 | ▇▅▄▃▂▂▁ | +0.021 (worse) vs base01 |",
        '```mermaid\nxychart-beta\n  title "pretrain-a: train/loss"\n',
        "**Done:** Stop by rule (non-finite): stopped. SIGINT to pid 48121; it exited after 41 s."
        " Next check 03:24 UTC (10 min).",
        "<sub>`/snooze pretrain-a 2h` pauses automatic action · `/unwatch pretrain-a` stops watching · `/help`</sub>",
    ]
    positions = [text.index(part) for part in expected_in_order]
    assert positions == sorted(positions)
    assert "\n\n\n" not in text and "Shortened" not in text
    assert text.endswith("</sub>\n")


def test_the_info_line_leaves_out_what_is_unknown(make_view: MakeView) -> None:
    text = render_verdict(make_view(url=None, host=None, total_steps=None))
    assert text.split("\n")[3] == "step 12,400 · checked 2026-11-27 03:14 UTC"
    text = render_verdict(make_view(url=None, host=None, step=None, checked_at=None))
    assert text.split("\n")[0].endswith("step=0 -->")
    assert "step " not in text.split("\n")[3]


def test_sections_without_content_are_left_out(make_view: MakeView) -> None:
    text = render_verdict(make_view(judgment=None, metrics=(), chart=None, action=""))
    assert "| signal |" not in text and "| metric |" not in text and "```" not in text
    assert "**Done:** nothing." in text
    assert "\n\n\n" not in text


@pytest.mark.parametrize(
    ("status", "verdict", "start"),
    [
        (Status.HEALTHY, Verdict.FINE, "🟢 `pretrain-a` fine"),
        (Status.UNSURE, Verdict.UNSURE, "🟡 `pretrain-a` unsure"),
        (Status.BAD, Verdict.BAD, "🔴 `pretrain-a` bad"),
        (Status.STOPPED, Verdict.BAD, "🔴 `pretrain-a` stopped"),
        (Status.WOULD_STOP, Verdict.BAD, "🟠 `pretrain-a` would be stopped (dry run)"),
        (Status.SNOOZED, Verdict.BAD, "⏸ `pretrain-a` snoozed"),
        (Status.FINISHED, None, "✅ `pretrain-a` finished"),
        (Status.UNREACHABLE, None, "⚠️ `pretrain-a` unreachable"),
        (Status.ERROR, None, "⚠️ `pretrain-a` error"),
        (Status.WAITING, None, "⏳ `pretrain-a` not judged"),
    ],
)
def test_the_headline_mark_follows_the_status(
    make_view: MakeView, status: Status, verdict: Verdict | None, start: str
) -> None:
    judgment = Judgment(1, verdict, ()) if verdict else None
    view = make_view(status=status, judgment=judgment, status_detail="why")
    assert headline(view) == f"{start} — why"
    assert render_verdict(view).split("\n")[1] == f"### {start} — why"


def test_a_hostile_name_and_detail_cannot_break_out(make_view: MakeView, gfm: MarkdownIt) -> None:
    evil = Signal("x|y", Severity.BAD, "`a|b` <!-- @bob [l](javascript:x) -->\n| z |")
    judgment = Judgment(5, Verdict.BAD, (evil,))
    view = make_view(name=HOSTILE_NAME, judgment=judgment, url=None, chart=None)  # (its axis has -->)
    text = render_verdict(view)
    first = text.split("\n")[0]
    assert re.fullmatch(r"<!-- training-check:verdict run=[A-Za-z0-9_./-]* step=\d+ -->", first)
    assert text.count("<!--") == 1 and text.count("-->") == 1
    tokens = gfm.parse(text)
    assert [t.content.strip() for t in tokens if t.type == "html_block"] == [first]
    rendered = gfm.render(text)
    assert "<a " not in rendered and "<h3>" in rendered and rendered.count("<h3>") == 1
    assert not re.search(r"@[A-Za-z0-9]", re.sub(r"<code>.*?</code>", "", rendered))
    signal_table = re.search(r"<table>.*?</table>", rendered, re.DOTALL)
    assert signal_table and signal_table.group().count("<td>") == 2  # one row, two cells


# ---- GitHub's size limit ----------------------------------------------------------------


def long_signals(count: int, size: int) -> Judgment:
    return Judgment(1, Verdict.BAD, tuple(Signal(f"s{i}", Severity.BAD, "d" * size) for i in range(count)))


def many_metrics(count: int) -> tuple[MetricLine, ...]:
    return tuple(MetricLine(f"m{i}/" + "n" * 400, "1.0 @ 5", "0.5 @ 3", "▁▂▃", "") for i in range(count))


def assert_essentials(text: str, action_start: str = "Stop by rule") -> None:
    assert len(text) <= GITHUB_COMMENT_LIMIT
    lines = text.split("\n")
    assert lines[0].startswith("<!-- training-check:verdict run=pretrain-a")
    assert lines[1].startswith("### 🔴 `pretrain-a` stopped")
    assert f"**Done:** {action_start}" in text
    assert text.rstrip().endswith("</sub>")


def test_a_long_chart_is_dropped_first(make_view: MakeView) -> None:
    text = render_verdict(make_view(chart="```mermaid\n" + "x" * GITHUB_COMMENT_LIMIT + "\n```"))
    assert_essentials(text)
    assert "```" not in text and "| eval/loss |" in text and "| grad-norm |" in text
    assert "Shortened to fit GitHub's comment size limit: the chart was left out." in text


def test_then_metrics_rows_from_the_end(make_view: MakeView) -> None:
    text = render_verdict(make_view(metrics=many_metrics(200)))
    assert_essentials(text)
    assert "| m0/" in text and "| m199/" not in text and "```" not in text
    assert "| non-finite |" in text
    assert re.search(r"the chart was left out, \d+ of 200 metrics left out\.", text)


def test_then_signal_details_are_shortened(make_view: MakeView) -> None:
    text = render_verdict(make_view(judgment=long_signals(30, 20_000), metrics=many_metrics(5)))
    assert_essentials(text, action_start="Stop by rule")
    assert "| metric |" not in text
    rows = re.findall(r"^\| s\d+ \| (d+…) \|$", text, re.MULTILINE)
    assert rows and all(len(r) <= 1000 for r in rows)


def test_a_flood_of_signals_shows_the_first_ones_and_counts_the_rest(make_view: MakeView) -> None:
    text = render_verdict(make_view(judgment=long_signals(5000, 200)))
    assert_essentials(text)
    assert "| s0 |" in text and "| s10 |" not in text
    assert "| … | 4990 more not shown |" in text


def test_a_huge_action_is_shortened_but_the_done_line_stays(make_view: MakeView) -> None:
    action = "Reviewer (gpt): STOP — " + "because " * 20_000
    text = render_verdict(make_view(action=action, judgment=long_signals(3, 10_000)))
    assert_essentials(text, action_start="Reviewer (gpt): STOP — because")
    done = next(line for line in text.split("\n") if line.startswith("**Done:**"))
    assert done.endswith("…") and len(text) > GITHUB_COMMENT_LIMIT - 200  # shortened no more than needed


def test_a_normal_verdict_is_far_below_the_limit(make_view: MakeView) -> None:
    assert len(render_verdict(make_view())) < 2000
