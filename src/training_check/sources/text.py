"""The line parser for plain-text training logs (nanoGPT, HF Trainer, tqdm, ...)."""

from __future__ import annotations

import re

from training_check.sources.lines import BadLine, LineParser
from training_check.sources.rows import HistoryBuilder
from training_check.sources.values import parse_step, snippet

_NAME = r"[A-Za-z_](?:[\w./-]*\w)?"
_NUMBER = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"
_UNIT = r"(?:ms|s|%)?"  # nanoGPT prints "time 20.12ms, mfu 30.00%"
# name=value, name: value, 'name': value (HF Trainer dicts); the value maybe in tensor(...)
_STRONG = re.compile(rf"(?<![\w./-])(['\"]?)({_NAME})\1(\s*[=:]\s*)(?:tensor\(\s*)?([^\s,;|(){{}}\[\]]+)")
# name value: only trusted on a line that is otherwise clearly a metric line
_WEAK = re.compile(rf"(?<![\w./-])({_NAME})\s+({_NUMBER}){_UNIT}(?![\w.])", re.IGNORECASE)
_NUMBER_TOKEN = re.compile(rf"({_NUMBER}){_UNIT}", re.IGNORECASE)
# Names that say "metric". Without a step, `=` or such a name, "name: 12" is far more
# often a banner ("Trainable params: 124") than a metric.
_METRIC_WORD = re.compile(
    r"loss|learning_rate|grad|norm|accuracy|perplexity|(?:^|[^a-z])(?:lr|acc|ppl)(?:[^a-z]|$)",
    re.IGNORECASE,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TEXT_STEP_KEYS = ("step", "global_step", "iter", "iteration")
_EVAL_PREFIXES = ("eval_", "eval/", "val_", "val/", "test_", "test/")


class TextParser(LineParser):
    """Training logs: `step 120 loss=2.31`, `iter 40: loss 3.1`, HF Trainer dicts, ..."""

    tip = "expected log lines such as 'step 120 loss=2.31 lr=3e-4' or {'loss': 2.31}"

    def parse(self, text: str, out: HistoryBuilder) -> None:
        # A tqdm bar redraws itself after \r: only its last state was ever shown.
        line = _ANSI.sub("", text.rsplit("\r", 1)[-1])
        strong, trusted = _strong_pairs(line, out)
        weak = [(match[1], match[2]) for match in _WEAK.finditer(line)]
        pairs = strong + weak
        if not (trusted or ("|" in line and weak) or any(_says_metric(n) for n, _ in pairs)):
            out.ignored += 1  # banners, warnings, tracebacks, progress bars
            return
        values = dict(pairs)
        if "train_runtime" in values:
            # HF Trainer's end-of-run summary: averages over the run, not a step's metrics
            # (its `train_loss` would otherwise pass for the training loss).
            out.ignored += 1
            return
        step = _pop_step(values)
        metrics = {name: float(raw) for name, raw in values.items()}
        if step is None and metrics and _is_eval_only(metrics):
            step = 0 if out.last_step is None else out.last_step  # the step it followed
        out.add(step, metrics)


def _strong_pairs(line: str, out: HistoryBuilder) -> tuple[list[tuple[str, str]], bool]:
    """The `name=number` pairs, and whether any is a deliberate metric.

    `loss=2.3` and `'loss': 2.3` are; `Num examples = 1000` (HF's banner) is not.
    """
    pairs, trusted = [], False
    for match in _STRONG.finditer(line):
        quote, name, sep, token = match.groups()
        if token.endswith(":"):
            continue  # "train.py:143: UserWarning": a source location, not a metric
        number = _NUMBER_TOKEN.fullmatch(token.rstrip("."))  # "loss: 2.3." ends a sentence
        if number is not None:
            pairs.append((name, number[1]))
            trusted = trusted or sep == "=" or bool(quote)
        elif token[0] not in "'\"" and _METRIC_WORD.search(name):
            out.note("not a number", f"{name}={snippet(token, 30)}")
    return pairs, trusted


def _says_metric(name: str) -> bool:
    return name.lower() in _TEXT_STEP_KEYS or _METRIC_WORD.search(name) is not None


def _pop_step(values: dict[str, str]) -> int | None:
    """Remove the step field from `values` and return it (`step 500/10000` gives 500)."""
    for key in _TEXT_STEP_KEYS:
        name = next((name for name in values if name.lower() == key), None)
        if name is not None:
            raw = values.pop(name)
            step = parse_step(raw)
            if step is None:
                raise BadLine("step is not a whole number", f"{name} {raw}")
            return step
    return None


def _is_eval_only(metrics: dict[str, float]) -> bool:
    """Whether a step-less line holds eval results ({'eval_loss': .., 'epoch': ..})."""
    return all(key.lower().startswith(_EVAL_PREFIXES) for key in metrics if key.lower() != "epoch")
