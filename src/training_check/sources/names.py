"""Which history key is the training loss, the eval metric, the learning rate, the grad norm.

"auto" picks from the conventions of W&B, the Hugging Face Trainer, PyTorch Lightning
and common hand-written loggers. The choice depends only on the set of keys, never on
their order, so the same run always gets the same roles.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from training_check.model import MetricNames

AUTO = "auto"
LOSS_KEYS = (
    "train/loss",
    "train_loss",
    "loss",
    "training_loss",
    "train/loss_step",
    "train_loss_step",
    "trainer/loss",
)
EVAL_KEYS = (
    "eval/loss",
    "val/loss",
    "val_loss",
    "eval_loss",
    "validation/loss",
    "valid/loss",
    "validation_loss",
    "val_loss_epoch",
)
LR_KEYS = ("lr", "learning_rate", "train/lr", "train/learning_rate", "optimizer/lr")
GRAD_NORM_KEYS = (
    "grad_norm",
    "train/grad_norm",
    "gradient_norm",
    "train/gradient_norm",
    "grad-norm",
    "grad_norm/total",
    "total_grad_norm",
)
EVAL_PREFIXES = ("eval/", "val/", "validation/", "valid/", "eval_", "val_")
LR_PREFIXES = ("lr-", "lr/")  # Lightning's LearningRateMonitor logs "lr-AdamW"
# Parts of a key that mark it as evaluation, not training ("val_loss", "test/loss").
_EVAL_WORDS = frozenset({"eval", "val", "valid", "validation", "test"})
# Eval bookkeeping that says nothing about quality; never picked as the eval metric.
_EVAL_BOOKKEEPING = frozenset({"runtime", "samples_per_second", "steps_per_second", "epoch", "step", "global_step"})


def detect_names(
    keys: Iterable[str],
    loss: str = AUTO,
    eval: str = AUTO,
    lr: str = AUTO,
    grad_norm: str = AUTO,
) -> MetricNames:
    """The role of each key; a name given explicitly (not "auto") is used as is.

    An explicit name absent from `keys` is kept too: that role is then simply empty.
    """
    pool = sorted(set(keys))
    return MetricNames(
        loss=_choose(loss, pool, _auto_loss),
        eval=_choose(eval, pool, _auto_eval),
        lr=_choose(lr, pool, _auto_lr),
        grad_norm=_choose(grad_norm, pool, lambda keys: _known(keys, GRAD_NORM_KEYS)),
    )


def _choose(given: str, pool: list[str], auto: Callable[[list[str]], str | None]) -> str | None:
    return auto(pool) if given == AUTO else given


def _known(pool: list[str], known: Sequence[str]) -> str | None:
    """The first known name present, exactly; failing that, ignoring case."""
    present = set(pool)
    for name in known:
        if name in present:
            return name
    folded: dict[str, str] = {}
    for key in pool:  # sorted, so a case clash always resolves the same way
        folded.setdefault(key.lower(), key)
    return next((folded[name] for name in known if name in folded), None)


def _shortest(candidates: Iterable[str]) -> str | None:
    """The shortest candidate (the least decorated name), ties broken alphabetically."""
    return min(candidates, key=lambda key: (len(key), key), default=None)


def _is_eval(key: str) -> bool:
    return any(part in _EVAL_WORDS for part in re.split(r"[/_.\-]", key.lower()))


def _auto_loss(pool: list[str]) -> str | None:
    known = _known(pool, LOSS_KEYS)
    if known is not None:
        return known
    losses = [key for key in pool if key.lower().endswith("loss") and not _is_eval(key)]
    trained = [key for key in losses if "train" in key.lower()]
    return _shortest(trained or losses)


def _auto_eval(pool: list[str]) -> str | None:
    known = _known(pool, EVAL_KEYS)
    if known is not None:
        return known
    evals = [key for key in pool if _eval_metric(key)]
    return _shortest(key for key in evals if "loss" in key.lower()) or _shortest(evals)


def _eval_metric(key: str) -> bool:
    """Whether `key` is under an eval prefix and is not mere bookkeeping."""
    low = key.lower()
    rest = next((low[len(prefix) :] for prefix in EVAL_PREFIXES if low.startswith(prefix)), None)
    return rest is not None and rest not in _EVAL_BOOKKEEPING


def _auto_lr(pool: list[str]) -> str | None:
    known = _known(pool, LR_KEYS)
    if known is not None:
        return known
    return _shortest(key for key in pool if key.lower().startswith(LR_PREFIXES))
