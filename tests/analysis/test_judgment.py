"""The judgment table on controlled series: each rule, and what must never happen."""

from __future__ import annotations

import numpy as np

from support.histories import decaying, history, series
from training_check.analysis import LrSchedule, Thresholds, judge
from training_check.model import Baseline, MetricNames, Severity, Verdict


def names_of(judgment) -> set[str]:
    return {s.name for s in judgment.signals}


def test_healthy_decay_is_fine(names: MetricNames) -> None:
    h = history(train_loss=series(decaying(3000, 0.05)))
    j = judge(h, names)
    assert j.verdict is Verdict.FINE
    assert j.step == 2999


def test_nan_loss_is_bad_and_says_where(names: MetricNames) -> None:
    loss = decaying(1000, 0.02)
    loss[700:] = np.nan
    j = judge(history(train_loss=series(loss)), names)
    assert j.verdict is Verdict.BAD
    top = j.reasons[0]
    assert top.name == "non-finite"
    assert "NaN from step 700" in top.detail
    assert top.numbers["count"] == 300


def test_inf_loss_is_bad(names: MetricNames) -> None:
    loss = decaying(500, 0.02)
    loss[-1] = np.inf
    assert judge(history(train_loss=series(loss)), names).verdict is Verdict.BAD


def test_single_huge_point_is_never_bad(names: MetricNames) -> None:
    for position in (-1, -2, -30, 1500):
        loss = decaying(2000, 0.05)
        loss[position] = 1e6
        j = judge(history(train_loss=series(loss)), names)
        assert j.verdict is not Verdict.BAD, (position, j)


def test_single_huge_point_in_sparse_log_is_never_bad(names: MetricNames) -> None:
    loss = decaying(60, 0.02)
    loss[-1] = 50.0
    j = judge(history(train_loss=series(loss, every=50)), names)
    assert j.verdict is not Verdict.BAD


def test_recovered_spike_is_noted_not_punished(names: MetricNames) -> None:
    loss = decaying(3000, 0.02)
    loss[2500:2503] += 5.0
    j = judge(history(train_loss=series(loss)), names)
    assert j.verdict is Verdict.FINE
    spike = next(s for s in j.signals if s.name == "spike")
    assert spike.severity is Severity.NOTE
    assert "2,50" in spike.detail


def test_sustained_rise_is_bad_but_its_first_steps_are_not(names: MetricNames) -> None:
    loss = decaying(3000, 0.03)
    loss[2000:] += np.linspace(0, 4, 1000)
    h = history(train_loss=series(loss))
    assert judge(h.up_to(2030), names).verdict is Verdict.FINE
    j = judge(h.up_to(2300), names)
    assert j.verdict is Verdict.BAD
    assert j.reasons[0].name == "diverging"
    assert "rose from its best" in j.reasons[0].detail


def test_rise_that_comes_back_down_is_not_bad(names: MetricNames) -> None:
    loss = decaying(3000, 0.03)
    # Up in 5 steps, back down with a 60-step time constant: how real loss spikes recover.
    bump = np.concatenate([np.linspace(0, 3, 5), 3 * np.exp(-np.arange(400) / 60)])
    loss[2000 : 2000 + bump.size] += bump
    h = history(train_loss=series(loss))
    for step in range(2000, 3000, 25):
        assert judge(h.up_to(step), names).verdict is not Verdict.BAD, step


def test_explosion_without_nan_is_bad(names: MetricNames) -> None:
    loss = decaying(2000, 0.02)
    loss[1500:] = 0.5 * np.exp(np.arange(500) / 30)
    j = judge(history(train_loss=series(loss)).up_to(1700), names)
    assert j.verdict is Verdict.BAD


def test_plateau_is_unsure(names: MetricNames) -> None:
    rng = np.random.default_rng(1)
    loss = 2.3 + rng.normal(0, 0.01, 4000)
    j = judge(history(train_loss=series(loss)), names)
    assert j.verdict is Verdict.UNSURE
    assert "plateau" in names_of(j)


def test_too_early_is_fine_with_a_note(names: MetricNames) -> None:
    j = judge(history(train_loss=series(np.array([2.3, 2.2]))), names)
    assert j.verdict is Verdict.FINE
    assert names_of(j) == {"too-early"}


def test_missing_loss_is_unsure_and_says_how_to_fix(names: MetricNames) -> None:
    j = judge(history(other=series(np.ones(10))), names)
    assert j.verdict is Verdict.UNSURE
    assert "checks.loss" in j.reasons[0].detail


def test_eval_clearly_worse_than_baseline_run_is_bad(names: MetricNames) -> None:
    loss = series(decaying(1000, 0.01))
    ours = series(np.linspace(3.0, 2.6, 20), every=50)
    base = series(np.linspace(2.8, 2.0, 20), every=50)
    baseline = Baseline(series=base, label="base01")
    j = judge(history(train_loss=loss, eval_loss=ours), names, baseline=baseline)
    assert j.verdict is Verdict.BAD
    assert "base01" in j.reasons[0].detail


def test_eval_worse_than_fixed_baseline_while_improving_is_only_a_note(names: MetricNames) -> None:
    loss = series(decaying(1000, 0.01))
    ours = series(np.linspace(4.0, 2.6, 20), every=50)
    j = judge(history(train_loss=loss, eval_loss=ours), names, baseline=Baseline(value=2.31))
    assert j.verdict is Verdict.FINE
    assert any(s.name == "eval-vs-baseline" and s.severity is Severity.NOTE for s in j.signals)


def test_eval_stuck_well_above_fixed_baseline_is_bad(names: MetricNames) -> None:
    loss = series(decaying(1000, 0.01))
    ours = series(np.concatenate([np.linspace(4.0, 3.0, 10), np.full(10, 3.0)]), every=50)
    j = judge(history(train_loss=loss, eval_loss=ours), names, baseline=Baseline(value=2.31))
    assert j.verdict is Verdict.BAD


def test_accuracy_is_higher_is_better(names: MetricNames) -> None:
    loss = series(decaying(1000, 0.01))
    acc = series(np.linspace(0.5, 0.9, 20), every=50)
    metric_names = MetricNames(loss="train/loss", eval="val/acc")
    h = history(train_loss=loss, **{"val/acc": acc})
    j = judge(h, metric_names, baseline=Baseline(value=0.8))
    assert j.verdict is Verdict.FINE


def test_lr_zero_negative_and_nonfinite(names: MetricNames) -> None:
    loss = series(decaying(1000, 0.01))
    for lr_values, expected in (
        (np.concatenate([np.full(500, 1e-3), np.zeros(500)]), "0 since step 500"),
        (np.full(1000, -1e-3), "negative"),
        (np.full(1000, np.nan), "NaN"),
    ):
        j = judge(history(train_loss=loss, lr=series(lr_values)), names)
        assert j.verdict is Verdict.UNSURE
        assert expected in j.reasons[0].detail


def test_lr_warmup_from_zero_is_fine(names: MetricNames) -> None:
    lr = np.minimum(np.arange(1000) / 100, 1.0) * 1e-3
    j = judge(history(train_loss=series(decaying(1000, 0.01)), lr=series(lr)), names)
    assert j.verdict is Verdict.FINE


def test_lr_off_declared_schedule(names: MetricNames) -> None:
    schedule = LrSchedule(kind="cosine", peak=1e-3, warmup_steps=100, total_steps=1000)
    th = Thresholds(lr_schedule=schedule)
    constant = series(np.full(1000, 1e-3))
    j = judge(history(train_loss=series(decaying(1000, 0.01)), lr=constant), names, th)
    assert j.verdict is Verdict.UNSURE and "cosine schedule" in j.reasons[0].detail


def test_grad_norm_exploding_vanishing_and_nonfinite(names: MetricNames) -> None:
    loss = series(decaying(1000, 0.01))
    base = np.full(1000, 1.0)
    exploding = base.copy()
    exploding[-30:] = 500.0
    vanishing = base.copy()
    vanishing[-30:] = 1e-7
    inf_tail = base.copy()
    inf_tail[-5:] = np.inf
    inf_once = base.copy()
    inf_once[500] = np.inf
    cases = (
        (exploding, Verdict.UNSURE, "exploding"),
        (vanishing, Verdict.UNSURE, "vanishing"),
        (inf_tail, Verdict.BAD, "Inf since step 995"),
        (inf_once, Verdict.FINE, "finite again"),
    )
    for values, verdict, text in cases:
        j = judge(history(train_loss=loss, grad_norm=series(values)), names)
        assert j.verdict is verdict, text
        assert any(text in s.detail for s in j.signals), (text, j.signals)


def test_stalled_only_past_the_threshold(names: MetricNames) -> None:
    h = history(train_loss=series(decaying(1000, 0.01)))
    assert judge(h, names, idle_seconds=30 * 60).verdict is Verdict.FINE
    j = judge(h, names, idle_seconds=3 * 3600)
    assert j.verdict is Verdict.UNSURE and "180 min" in j.reasons[0].detail


def test_deterministic(names: MetricNames) -> None:
    loss = decaying(5000, 0.1, seed=3)
    loss[3000:] += np.linspace(0, 2, 2000)
    h = history(train_loss=series(loss))
    assert judge(h, names) == judge(h, names)


def test_a_volatile_run_gets_patience_unless_its_learning_rate_is_still_climbing(names: MetricNames) -> None:
    t = np.arange(3000)
    rng = np.random.default_rng(5)
    loss = 2.0 * np.exp(-t / 200) + 0.3 + 0.00002 * np.maximum(t - 1400, 0) + rng.normal(0, 0.01, 3000)
    loss[1600:1660] += 1.5  # a rise after the best that came back: the run is volatile
    loss[2000:] += np.linspace(1.5, 3.0, 1000)
    warming = series(np.linspace(1e-4, 1e-2, 3000))
    decaying_lr = series(np.linspace(1e-2, 1e-4, 3000))
    at = 2090  # 90 steps into the rise: enough for a steady run, half the patience of a volatile one
    climbing = judge(history(train_loss=series(loss), lr=warming).up_to(at), names)
    settling = judge(history(train_loss=series(loss), lr=decaying_lr).up_to(at), names)
    assert climbing.verdict is Verdict.BAD, climbing.reasons
    assert settling.verdict is Verdict.UNSURE, settling.reasons
    later = judge(history(train_loss=series(loss), lr=decaying_lr).up_to(2200), names)
    assert later.verdict is Verdict.BAD
