"""Fixtures of the report tests: a run view like the mock-ups', and a GFM renderer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from markdown_it import MarkdownIt

from training_check.model import Judgment, Severity, Signal, Verdict
from training_check.report.views import MetricLine, RunView, Status

NOW = 1_795_749_240.0  # 2026-11-27 03:14 UTC

CHART = "\n".join(
    [
        "```mermaid",
        "xychart-beta",
        '  title "pretrain-a: train/loss"',
        "  x-axis [10400, 12379]",
        '  y-axis "loss" 2 --> 2.6',
        "  line [2.41, 2.57]",
        "```",
    ]
)


def _view() -> RunView:
    signals = (
        Signal("non-finite", Severity.BAD, "`train/loss` is NaN from step 12,380 (20 steps so far)"),
        Signal("grad-norm", Severity.UNSURE, "48.1 at step 12,350, 31× its median"),
    )
    return RunView(
        name="pretrain-a",
        url="https://wandb.ai/my-team/llm-pretrain/runs/3kx9a2",
        status=Status.STOPPED,
        status_detail="NaN loss",
        step=12_400,
        host="gpu1",
        judgment=Judgment(12_400, Verdict.BAD, signals),
        metrics=(
            MetricLine("train/loss", "NaN @ 12,400", "2.214 @ 11,900", "▇▆▅▄▃▂▂▃▅█", ""),
            MetricLine("eval/loss", "2.291 @ 12,000", "2.291 @ 12,000", "▇▅▄▃▂▂▁", "+0.021 (worse) vs base01"),
        ),
        chart=CHART,
        loss_text="NaN",
        trend="▅▄▃▂▂▅█",
        vs_baseline="+0.021 (worse) vs base01",
        checked_at=NOW,
        next_due=None,
        interval_minutes=10,
        action="Stop by rule (non-finite): stopped. SIGINT to pid 48121; it exited after 41 s.",
        total_steps=50_000,
    )


@pytest.fixture
def make_view() -> Callable[..., RunView]:
    """A view like the verdict mock-up's, with any field changed."""

    def make(**changes: Any) -> RunView:
        return replace(_view(), **changes)

    return make


@pytest.fixture
def gfm() -> MarkdownIt:
    """A CommonMark renderer with GFM tables and strikethrough, raw HTML allowed (as GitHub)."""
    return MarkdownIt("gfm-like", {"html": True, "linkify": False}).disable("linkify")
