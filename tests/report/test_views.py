"""What the views compute from a history: metrics rows, baseline texts, headline, schedule."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from support.histories import NAMES, history, series
from training_check.model import Baseline
from training_check.report.views import RunView, Status, headline, metric_lines, schedule_line, vs_baseline

MakeView = Callable[..., RunView]
NOW = 1_795_749_240.0  # 2026-11-27 03:14 UTC, when the views of conftest.py were checked


def test_metric_lines_follow_the_roles_and_skip_what_is_not_logged() -> None:
    h = history(
        train_loss=series(np.array([3.0, 2.0, 1.0, np.nan]), every=100),
        eval_loss=series(np.array([2.5, 1.5]), every=200),
        lr=series(np.array([1e-3, 5e-4]), every=200),
    )
    rows = metric_lines(h, NAMES, Baseline(value=1.0, label="base01"))
    assert [r.name for r in rows] == ["train/loss", "eval/loss", "lr"]
    loss, ev, lr = rows
    assert loss.last == "NaN @ 300" and loss.best == "1 @ 200" and loss.vs_baseline == ""
    assert ev.best == "1.5 @ 200" and ev.vs_baseline == "+0.5 (worse) vs base01"
    assert lr.best == ""  # "best" means nothing for a learning rate


def test_vs_baseline_knows_which_way_is_better() -> None:
    accuracy = series(np.array([0.5, 0.8]))
    assert vs_baseline(accuracy, "eval/accuracy", Baseline(value=0.7)) == "+0.1 (better) vs baseline"
    assert vs_baseline(accuracy, "eval/accuracy", None) == ""
    assert vs_baseline(series(np.array([np.nan])), "eval/loss", Baseline(value=1.0)) == ""


def test_the_url_label_is_the_wandb_path(make_view: MakeView) -> None:
    assert make_view().url_label == "my-team/llm-pretrain/3kx9a2"
    assert make_view(url="https://example.org/x").url_label == "pretrain-a"


def test_a_long_reason_is_shortened_in_the_headline(make_view: MakeView) -> None:
    line = headline(make_view(judgment=None, status_detail="why " * 500))
    assert len(line) < 400 and line.endswith("…")


def test_the_schedule_line_names_the_next_due_run(make_view: MakeView) -> None:
    runs = [
        make_view(name="a", next_due=NOW + 3600, interval_minutes=60),
        make_view(name="b", next_due=NOW + 600, interval_minutes=10),
        make_view(name="c", next_due=None, status=Status.FINISHED),
    ]
    assert schedule_line(runs) == "Next check 03:24 UTC (`b`, checked every 10 min)."
    assert schedule_line(runs[2:]) == ""
