"""detect_names: the conventions of W&B, HF Trainer, Lightning and hand-written loggers."""

from __future__ import annotations

import random

import pytest

from training_check.model import MetricNames
from training_check.sources import detect_names

WANDB_HF = [
    "_runtime",
    "_timestamp",
    "train/loss",
    "train/grad_norm",
    "train/learning_rate",
    "train/epoch",
    "train/global_step",
    "eval/loss",
    "eval/runtime",
    "eval/samples_per_second",
]
HF_TEXT = ["loss", "grad_norm", "learning_rate", "epoch", "eval_loss", "eval_runtime"]
LIGHTNING = ["epoch", "train_loss_step", "train_loss_epoch", "val_loss", "lr-AdamW"]
NANOGPT = ["loss", "time", "mfu", "lr"]


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (WANDB_HF, MetricNames("train/loss", "eval/loss", "train/learning_rate", "train/grad_norm")),
        (HF_TEXT, MetricNames("loss", "eval_loss", "learning_rate", "grad_norm")),
        (LIGHTNING, MetricNames("train_loss_step", "val_loss", "lr-AdamW", None)),
        (NANOGPT, MetricNames("loss", None, "lr", None)),
        (["val/loss", "train/loss", "optimizer/lr"], MetricNames("train/loss", "val/loss", "optimizer/lr")),
        ([], MetricNames()),
        (["_runtime", "_timestamp", "epoch"], MetricNames()),
    ],
    ids=["wandb-hf", "hf-text", "lightning", "nanogpt", "wandb-custom", "nothing", "no-metrics"],
)
def test_known_conventions(keys: list[str], expected: MetricNames) -> None:
    assert detect_names(keys) == expected


def test_known_names_follow_the_preference_order() -> None:
    assert detect_names(["loss", "train_loss", "train/loss"]).loss == "train/loss"
    assert detect_names(["loss", "train_loss"]).loss == "train_loss"
    assert detect_names(["eval_loss", "val_loss"]).eval == "val_loss"
    assert detect_names(["learning_rate", "lr"]).lr == "lr"
    assert detect_names(["total_grad_norm", "grad_norm/total"]).grad_norm == "grad_norm/total"


def test_loss_fallback_is_a_training_loss_key() -> None:
    keys = ["val/lm_loss", "test_loss", "train/lm_loss", "aux_loss", "interval_loss"]
    assert detect_names(keys).loss == "train/lm_loss"
    assert detect_names(["aux_loss", "interval_loss", "val/lm_loss"]).loss == "aux_loss"
    assert detect_names(["eval/lm_loss", "valid_loss", "test/loss"]).loss is None


def test_eval_fallbacks() -> None:
    assert detect_names(["val/lm_loss", "val/acc"]).eval == "val/lm_loss"
    assert detect_names(["eval_runtime", "eval_accuracy"]).eval == "eval_accuracy"
    # Bookkeeping alone is no eval metric.
    assert detect_names(["eval_runtime", "eval/samples_per_second", "val/epoch"]).eval is None
    assert detect_names(["validation/perplexity", "train/loss"]).eval == "validation/perplexity"
    assert detect_names(["val/loss_step", "val/step", "val/acc"]).eval == "val/loss_step"


def test_lr_prefixes_and_case() -> None:
    assert detect_names(["lr-AdamW/pg2", "lr-AdamW/pg1", "lr-AdamW"]).lr == "lr-AdamW"
    assert detect_names(["lr/group0", "lr/group1"]).lr == "lr/group0"
    assert detect_names(["Loss", "LR", "Grad_Norm"]) == MetricNames("Loss", None, "LR", "Grad_Norm")


def test_explicit_names_are_used_as_given() -> None:
    names = detect_names(HF_TEXT, loss="my_loss", eval="eval_accuracy", lr="lr", grad_norm="auto")
    assert names == MetricNames("my_loss", "eval_accuracy", "lr", "grad_norm")


def test_choice_is_independent_of_key_order() -> None:
    keys = [*WANDB_HF, "aux_loss", "val/acc", "lr-SGD", "Loss", "loss_scale_loss"]
    first = detect_names(keys)
    shuffler = random.Random(7)
    for _ in range(50):
        shuffler.shuffle(keys)
        assert detect_names(keys) == first
    assert detect_names(reversed(keys)) == first
    assert detect_names(iter(sorted(keys))) == first
