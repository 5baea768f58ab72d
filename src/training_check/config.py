"""The config file (`.github/training-check.yml`) -> frozen dataclasses, with precise errors.

Every section maps onto a dataclass; a generic converter checks each value against the
field's type, so an error always names the file, the key, what is wrong and what is
expected. The same rules are published as a JSON Schema (`training-check config-schema`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

import yaml

from .analysis import LrSchedule, Thresholds
from .errors import TrainingCheckError
from .reviewers.interface import APIS, ReviewerSettings

DEFAULT_PATH = ".github/training-check.yml"
PERMISSIONS = ("read", "triage", "write", "maintain", "admin")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
_METRIC_KEYS = ("loss", "eval", "lr", "grad_norm")
_SCHEDULE_KINDS = ("constant", "cosine", "linear")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
T = TypeVar("T")


class ConfigError(TrainingCheckError):
    """A config value is wrong: names the file, the key, what is wrong and what is expected."""

    def __init__(self, path: str, key: str, problem: str, expected: str) -> None:
        super().__init__(f"{path}: `{key}` {problem}", tip=f"`{key}` should be {expected}")
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
class HostConfig:
    """One SSH target of `hosts:`; secrets arrive in the environment variables named here."""

    name: str
    hostname: str
    user: str | None = None
    port: int = 22
    key_env: str | None = None
    known_hosts_env: str | None = None
    proxy_jump: str | None = None
    accept_new_host_keys: bool = False
    timeout_seconds: float = 15.0


@dataclass(frozen=True)
class TrackingIssue:
    """`tracking_issue:` — the open issue with this label holds the watch list."""

    label: str = "training-check"


@dataclass(frozen=True)
class TrackerSettings:
    """`tracker:` — `local: PATH` keeps the watch list in a local file instead of GitHub."""

    local: str | None = None


@dataclass(frozen=True)
class ScheduleSettings:
    """`schedule:` — per-run check intervals and the workflow whose cron follows them."""

    intervals_minutes: tuple[int, ...] = (10, 20, 30, 60)
    workflow: str = ".github/workflows/training-check.yml"
    rewrite_cron: bool = True


@dataclass(frozen=True)
class ActionSettings:
    """`actions:` — whether bad runs are really stopped, and the grace between signals."""

    stop: bool = True
    grace_seconds: float = 120.0


@dataclass(frozen=True)
class CommandSettings:
    """`commands:` — the least repository permission allowed to command the bot."""

    permission: str = "write"


@dataclass(frozen=True)
class Config:
    """The whole configuration; every section has defaults."""

    path: str = "(defaults)"
    tracking_issue: TrackingIssue = field(default_factory=TrackingIssue)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    hosts: Mapping[str, HostConfig] = field(default_factory=dict)
    checks: Checks = field(default_factory=Checks)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    reviewer: ReviewerSettings | None = None  # None: unsure runs get WAIT
    actions: ActionSettings = field(default_factory=ActionSettings)
    commands: CommandSettings = field(default_factory=CommandSettings)


def load_config(path: str | Path | None) -> Config:
    """Read the config at `path`; None gives the defaults."""
    if path is None:
        return Config()
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainingCheckError(f"{where}: no such config file", tip=schema_tip()) from None
    except (OSError, UnicodeDecodeError) as e:
        raise TrainingCheckError(f"{where}: cannot read the config ({e})") from e
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        detail = " ".join(str(e).split())
        raise TrainingCheckError(f"{where}: not valid YAML ({detail})", tip=schema_tip()) from e
    return parse_config(raw if raw is not None else {}, where)


def schema_tip() -> str:
    """Where to find what the config may hold."""
    return "`training-check config-schema` prints every key the config accepts"


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file, shipped with the package."""
    text = (resources.files("training_check") / "data" / "config.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def parse_config(raw: object, where: str) -> Config:
    """Validate a parsed YAML document into a `Config`."""
    top = _mapping(raw, where, "(top level)")
    sections = {f.name for f in dataclasses.fields(Config)} - {"path"}
    unknown = sorted(set(top) - sections)
    if unknown:
        raise ConfigError(where, unknown[0], "is not a known section", f"one of {sorted(sections)}")
    config = Config(
        path=where,
        tracking_issue=_fill(TrackingIssue, top.get("tracking_issue", {}), where, "tracking_issue"),
        tracker=_fill(TrackerSettings, top.get("tracker", {}), where, "tracker"),
        hosts=_hosts(top.get("hosts", {}), where),
        checks=_checks(top.get("checks", {}), where),
        schedule=_fill(ScheduleSettings, top.get("schedule", {}), where, "schedule"),
        reviewer=None if top.get("reviewer") is None else _reviewer(top["reviewer"], where),
        actions=_fill(ActionSettings, top.get("actions", {}), where, "actions"),
        commands=_fill(CommandSettings, top.get("commands", {}), where, "commands"),
    )
    _check_choices(config, where)
    return config


def _check_choices(config: Config, where: str) -> None:
    """Values limited to a fixed set, and cross-references between sections."""
    if config.commands.permission not in PERMISSIONS:
        raise ConfigError(
            where, "commands.permission", f"is {config.commands.permission!r}", f"one of {list(PERMISSIONS)}"
        )
    intervals = config.schedule.intervals_minutes
    if not intervals or any(m < 1 for m in intervals) or list(intervals) != sorted(intervals):
        raise ConfigError(
            where,
            "schedule.intervals_minutes",
            f"is {list(intervals)}",
            "a rising list of minutes >= 1, e.g. [10, 20, 30, 60]",
        )
    for host in config.hosts.values():
        if host.proxy_jump is not None and host.proxy_jump not in config.hosts:
            raise ConfigError(
                where,
                f"hosts.{host.name}.proxy_jump",
                f"names {host.proxy_jump!r}, which is not in `hosts:`",
                "the name of another entry of `hosts:`",
            )


def _hosts(raw: object, where: str) -> dict[str, HostConfig]:
    hosts = {}
    for name, value in _mapping(raw, where, "hosts").items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(
                where, f"hosts.{name}", "is not a valid host name", "letters, digits, `_`, `.` or `-`"
            )
        section = dict(_mapping(value, where, f"hosts.{name}"))
        if "hostname" not in section:
            raise ConfigError(where, f"hosts.{name}.hostname", "is missing", "the host's DNS name or address")
        hosts[name] = _fill(HostConfig, {**section, "name": name}, where, f"hosts.{name}")
        for key in ("key_env", "known_hosts_env"):
            env = getattr(hosts[name], key)
            if env is not None and not _ENV_NAME.fullmatch(env):
                raise ConfigError(
                    where, f"hosts.{name}.{key}", f"is {env!r}", "the name of an environment variable"
                )
    return hosts


def _reviewer(raw: object, where: str) -> ReviewerSettings:
    section = _mapping(raw, where, "reviewer")
    api, effort = section.get("api", "responses"), section.get("reasoning_effort")
    if api not in APIS:
        raise ConfigError(where, "reviewer.api", f"is {api!r}", f"one of {list(APIS)}")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise ConfigError(
            where, "reviewer.reasoning_effort", f"is {effort!r}", f"one of {list(REASONING_EFFORTS)}"
        )
    if section.get("timeout_seconds", 1) == 0:
        raise ConfigError(where, "reviewer.timeout_seconds", "is 0", "a number of seconds > 0")
    return _fill(ReviewerSettings, section, where, "reviewer")


def _checks(raw: object, where: str) -> Checks:
    section = dict(_mapping(raw, where, "checks"))
    names = {key: section.pop(key) for key in _METRIC_KEYS if key in section}
    schedule = section.pop("lr_schedule", None)
    thresholds = _fill(Thresholds, section, where, "checks", extra=(*_METRIC_KEYS, "lr_schedule"))
    if schedule is not None:
        thresholds = dataclasses.replace(thresholds, lr_schedule=_lr_schedule(schedule, where))
    return Checks(_fill(MetricKeys, names, where, "checks"), thresholds)


def _lr_schedule(raw: object, where: str) -> LrSchedule:
    section = _mapping(raw, where, "checks.lr_schedule")
    if "peak" not in section:
        raise ConfigError(where, "checks.lr_schedule.peak", "is missing", "the peak learning rate, e.g. 3e-4")
    schedule = _fill(LrSchedule, {"kind": "cosine", **section}, where, "checks.lr_schedule")
    if schedule.kind not in _SCHEDULE_KINDS:
        raise ConfigError(
            where, "checks.lr_schedule.kind", f"is {schedule.kind!r}", f"one of {list(_SCHEDULE_KINDS)}"
        )
    return schedule


def _fill(cls: type[T], raw: object, where: str, prefix: str, extra: tuple[str, ...] = ()) -> T:
    """Build dataclass `cls` from a YAML mapping, converting each value to its field's type."""
    section = _mapping(raw, where, prefix)
    hints = get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values = {}
    for key, value in section.items():
        if key not in fields:
            known = sorted((fields - {"name", "lr_schedule"}) | set(extra))
            raise ConfigError(where, f"{prefix}.{key}", "is not a known setting", f"one of {known}")
        values[key] = _convert(value, hints[key], where, f"{prefix}.{key}")
    return cls(**values)


def _convert(value: object, hint: Any, where: str, key: str) -> Any:
    """A YAML value as the type `hint` (str, bool, int, float, their Optional, tuple[int, ...])."""
    text = str(hint)
    if value is None and "None" in text:
        return None
    if "tuple" in text:
        if not isinstance(value, list):
            raise ConfigError(where, key, f"is {value!r}", "a list of whole numbers")
        return tuple(_number(v, int, where, key) for v in value)
    if hint is bool or text.startswith("bool"):
        if not isinstance(value, bool):
            raise ConfigError(where, key, f"is {value!r}", "true or false")
        return value
    if hint is int or text.startswith("int"):
        return _number(value, int, where, key)
    if hint is float or text.startswith("float"):
        return _number(value, float, where, key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(where, key, f"is {value!r}", "a non-empty text")
    return value.strip()


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
