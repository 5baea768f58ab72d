"""The config file (`.github/training-check.yml`) -> frozen dataclasses, with precise errors."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .analysis import LrSchedule, Thresholds
from .errors import TrainingCheckError

DEFAULT_PATH = ".github/training-check.yml"
_TOP_LEVEL = {"tracking_issue", "tracker", "hosts", "checks", "schedule", "reviewer", "actions", "commands"}
_METRIC_KEYS = ("loss", "eval", "lr", "grad_norm")
_SCHEDULE_KINDS = ("constant", "cosine", "linear")


class ConfigError(TrainingCheckError):
    """A config value is wrong: names the file, the key, what is wrong and what is expected."""

    def __init__(self, path: str, key: str, problem: str, expected: str) -> None:
        super().__init__(
            f"{path}: `{key}` {problem}",
            tip=f"`{key}` should be {expected}",
        )
        self.path, self.key = path, key


@dataclass(frozen=True)
class MetricKeys:
    """The history keys of each metric role; "auto" detects them from common names."""

    loss: str = "auto"
    eval: str = "auto"
    lr: str = "auto"
    grad_norm: str = "auto"


@dataclass(frozen=True)
class Checks:
    """The `checks:` section: metric names and the analysis thresholds."""

    metrics: MetricKeys = field(default_factory=MetricKeys)
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    path: str = "(defaults)"
    checks: Checks = field(default_factory=Checks)


def load_config(path: str | Path | None) -> Config:
    """Read the config at `path`; None gives the defaults."""
    if path is None:
        return Config()
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainingCheckError(f"{where}: no such config file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TrainingCheckError(f"{where}: cannot read the config ({e})") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise TrainingCheckError(f"{where}: not valid YAML ({e})".replace("\n", " ")) from e
    return parse_config(raw if raw is not None else {}, where)


def parse_config(raw: object, where: str) -> Config:
    """Validate a parsed YAML document into a `Config`."""
    top = _mapping(raw, where, "(top level)")
    unknown = sorted(set(top) - _TOP_LEVEL)
    if unknown:
        raise ConfigError(where, unknown[0], "is not a known section", f"one of {sorted(_TOP_LEVEL)}")
    return Config(path=where, checks=_checks(top.get("checks", {}), where))


def _checks(raw: object, where: str) -> Checks:
    section = _mapping(raw, where, "checks")
    names = {}
    for key in _METRIC_KEYS:
        if key in section:
            value = section[key]
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(where, f"checks.{key}", f"is {value!r}", "a metric name or `auto`")
            names[key] = value.strip()
    known = {f.name: f for f in dataclasses.fields(Thresholds)}
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key in _METRIC_KEYS:
            continue
        if key not in known:
            raise ConfigError(
                where,
                f"checks.{key}",
                "is not a known check setting",
                f"one of {sorted([*_METRIC_KEYS, *known])}",
            )
        if key == "lr_schedule":
            values[key] = _lr_schedule(value, where)
        else:
            values[key] = _number(value, type(known[key].default), where, f"checks.{key}")
    return Checks(MetricKeys(**names), Thresholds(**values))


def _lr_schedule(raw: object, where: str) -> LrSchedule | None:
    if raw is None:
        return None
    section = _mapping(raw, where, "checks.lr_schedule")
    kind = section.get("kind", "cosine")
    if kind not in _SCHEDULE_KINDS:
        raise ConfigError(where, "checks.lr_schedule.kind", f"is {kind!r}", f"one of {list(_SCHEDULE_KINDS)}")
    if "peak" not in section:
        raise ConfigError(where, "checks.lr_schedule.peak", "is missing", "the peak learning rate, e.g. 3e-4")
    total = section.get("total_steps")
    return LrSchedule(
        kind=kind,
        peak=_number(section["peak"], float, where, "checks.lr_schedule.peak"),
        warmup_steps=_number(section.get("warmup_steps", 0), int, where, "checks.lr_schedule.warmup_steps"),
        total_steps=None if total is None else _number(total, int, where, "checks.lr_schedule.total_steps"),
        final=_number(section.get("final", 0.0), float, where, "checks.lr_schedule.final"),
    )


def _mapping(raw: object, where: str, key: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(where, key, f"is a {type(raw).__name__}", "a mapping of `key: value` lines")
    return raw


def _number(value: object, kind: type, where: str, key: str) -> Any:
    """A finite, non-negative int or float from YAML (which may give "3e-4" as a string)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    if not math.isfinite(number) or number < 0 or (kind is int and not number.is_integer()):
        expected = "a whole number >= 0" if kind is int else "a number >= 0"
        raise ConfigError(where, key, f"is {value!r}", expected)
    return kind(number)
