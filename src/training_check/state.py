"""The bot's memory between cycles: versioned JSON hidden in the dashboard as an HTML comment.

The state is only ever rebuilt, never trusted blindly: every field is type-checked on the
way in, and a state that cannot be read becomes the default state plus a visible notice,
so a broken comment costs one round of early checks instead of a crash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import TrainingCheckError
from .model import StopKind, StopOutcome, StopRecord, StopStep, StopTarget, Verdict

STATE_VERSION = 1
RECENT_VERDICTS = 10  # enough to see a pattern, small enough for an issue body
_STATE_RE = re.compile(r"<!--\s*training-check:state\s+(.*?)\s*-->", re.DOTALL)
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class StateError(TrainingCheckError):
    """The saved state cannot be used; `reason` says why in a short phrase."""

    def __init__(self, reason: str, condition: str = "corrupt") -> None:
        super().__init__(
            f"The bot state is {condition}: {reason}.",
            tip="Delete the `<!-- training-check:state … -->` comment to start over from defaults.",
        )
        self.reason, self.condition = reason, condition


@dataclass(frozen=True)
class RunState:
    """What the bot remembers about one run. Times are epoch seconds; None means "not yet"."""

    last_step: int | None = None
    interval_minutes: int | None = None
    next_due: float | None = None  # None: never checked, so due at once
    snoozed_until: float | None = None
    recent_verdicts: tuple[Verdict, ...] = ()  # oldest first, at most RECENT_VERDICTS
    stop: StopRecord | None = None
    review_count: int = 0
    log_offset: int = 0  # bytes of the log file already read
    first_seen: float | None = None
    started_at: float | None = None
    finished: bool = False
    review_decision: str | None = None
    review_reason: str | None = None
    last_verdict: Verdict | None = None
    last_reason: str | None = None  # the top reason of the last judgment, for the dashboard
    last_loss: float | None = None  # may be NaN or inf: a diverged run is worth showing
    last_checked: float | None = None
    snoozed_by: str | None = None
    review_times: tuple[float, ...] = ()  # the last day's reviews, for the daily budget
    last_trend: str | None = None  # the loss sparkline of the last check, for the dashboard
    last_vs_baseline: str | None = None
    last_error: str | None = None  # why the last check could not read the run
    ended_as: str | None = None  # "finished", "crashed" or "failed", as the run reported it

    def with_verdict(self, verdict: Verdict, reason: str | None) -> RunState:
        """This state after a judgment: the verdict remembered, the oldest ones forgotten."""
        recent = (*self.recent_verdicts, verdict)[-RECENT_VERDICTS:]
        return replace(self, recent_verdicts=recent, last_verdict=verdict, last_reason=reason)


@dataclass(frozen=True)
class State:
    """The whole bot state: runs by short name, the cron in force, the last command handled."""

    runs: Mapping[str, RunState] = field(default_factory=dict)
    cron: str | None = None
    last_command: int | None = None  # id of the last command comment handled

    def run(self, name: str) -> RunState:
        """The state of run `name` (a fresh one for a run never seen)."""
        return self.runs.get(name, RunState())

    def with_run(self, name: str, run: RunState) -> State:
        """This state with run `name` replaced by `run`."""
        return replace(self, runs={**self.runs, name: run})


# ---- encoding ---------------------------------------------------------------------------


def state_to_json(state: State) -> str:
    """Compact, deterministic JSON; `<` and `>` escaped so it can never close an HTML comment."""
    data: dict[str, Any] = {"version": STATE_VERSION, "runs": {n: _run_out(r) for n, r in state.runs.items()}}
    if state.cron is not None:
        data["cron"] = state.cron
    if state.last_command is not None:
        data["last_command"] = state.last_command
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    # Outside strings JSON has no < or >, so replacing them everywhere only touches strings.
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _run_out(run: RunState) -> dict[str, Any]:
    """Only the fields that differ from the defaults: the state lives in a size-limited body."""
    out: dict[str, Any] = {}
    for f in fields(RunState):
        value = getattr(run, f.name)
        if value != f.default:  # NaN != None, so a NaN loss is kept
            out[f.name] = _ENCODE.get(f.name, _same)(value)
    return out


def _same(value: Any) -> Any:
    return value


def _loss_out(value: float) -> float | str:
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else "inf" if value > 0 else "-inf"


def _stop_out(record: StopRecord) -> dict[str, Any]:
    return {
        "target": {"kind": record.target.kind.value, "value": record.target.value},
        "requested_at": record.requested_at,
        "by": record.by,
        "reason": record.reason,
        "steps": [{"action": s.action, "at": s.at} for s in record.steps],
        "outcome": record.outcome.value,
        "detail": record.detail,
    }


_ENCODE: dict[str, Callable[[Any], Any]] = {
    "recent_verdicts": lambda vs: [v.value for v in vs],
    "last_verdict": lambda v: v.value,
    "stop": _stop_out,
    "last_loss": _loss_out,
    "review_times": list,
}


# ---- decoding ---------------------------------------------------------------------------


def state_from_json(text: str) -> State:
    """Parse a state written by `state_to_json`; StateError says what is wrong with it."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise StateError(f"not valid JSON ({e})") from None
    top = _object(data, "")
    version = top.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise StateError("it has no version number")
    if version > STATE_VERSION:
        raise StateError(
            f"it has version {version}, written by a newer training-check (this one reads "
            f"version {STATE_VERSION})",
            condition="unreadable",
        )
    if version != STATE_VERSION:
        raise StateError(f"it has unknown version {version}", condition="unreadable")
    _no_unknown(top, {"version", "runs", "cron", "last_command"}, "")
    runs = _object(top.get("runs", {}), "runs")
    return State(
        runs={_name(n): _run_in(r, f"runs.{n[:40]}") for n, r in runs.items()},
        cron=_optional(top.get("cron"), str, "cron"),
        last_command=_optional(top.get("last_command"), int, "last_command"),
    )


def _run_in(raw: object, where: str) -> RunState:
    data = _object(raw, where)
    known = {f.name: f for f in fields(RunState)}
    _no_unknown(data, set(known), where)
    values = {key: _DECODE[key](value, f"{where}.{key}") for key, value in data.items()}
    return RunState(**values)


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise StateError(f"{_at(where)} must be a JSON object, not {_kind(value)}")
    return value


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise StateError(f"{_at(where)} has an unknown field `{unknown[0][:40]}`")


def _name(value: str) -> str:
    if not value:
        raise StateError("a run has an empty name")
    return value


def _at(where: str) -> str:
    """`where` (a dotted path in the state) for a message."""
    return f"`{where}`" if where else "the state"


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _optional(value: object, kind: type, where: str) -> Any:
    if value is None:
        return None
    return _typed(value, kind, where)


def _typed(value: object, kind: type, where: str) -> Any:
    """`value` if it is a `kind` (bool is no int here; a float must be finite)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise StateError(f"{_at(where)} must be {kind.__name__}, not {_kind(value)}")
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise StateError(f"{_at(where)} must not be negative")
    return value


def _enum_in(enum: type[Verdict] | type[StopKind] | type[StopOutcome], value: object, where: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise StateError(f"{_at(where)} is not a known {enum.__name__}") from None


def _loss_in(value: object, where: str) -> float | None:
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    loss: float | None = _optional(value, float, where)
    return loss


def _stop_in(raw: object, where: str) -> StopRecord | None:
    if raw is None:
        return None
    data = _object(raw, where)
    _no_unknown(data, {"target", "requested_at", "by", "reason", "steps", "outcome", "detail"}, where)
    target = _object(data.get("target"), f"{where}.target")
    try:  # StopTarget checks the handle again: this state reaches kill and scancel
        stop_target = StopTarget(
            _enum_in(StopKind, target.get("kind"), f"{where}.target.kind"),
            _typed(target.get("value"), str, f"{where}.target.value"),
        )
    except ValueError as e:
        raise StateError(f"{_at(where + '.target')} is invalid ({e})") from None
    steps = _typed(data.get("steps", []), list, f"{where}.steps")
    return StopRecord(
        target=stop_target,
        requested_at=_typed(data.get("requested_at"), float, f"{where}.requested_at"),
        by=_typed(data.get("by"), str, f"{where}.by"),
        reason=_typed(data.get("reason"), str, f"{where}.reason"),
        steps=tuple(_step_in(s, f"{where}.steps") for s in steps),
        outcome=_enum_in(StopOutcome, data.get("outcome"), f"{where}.outcome"),
        detail=_typed(data.get("detail", ""), str, f"{where}.detail"),
    )


def _step_in(raw: object, where: str) -> StopStep:
    data = _object(raw, where)
    _no_unknown(data, {"action", "at"}, where)
    return StopStep(
        _typed(data.get("action"), str, f"{where}.action"), _typed(data.get("at"), float, f"{where}.at")
    )


def _verdicts_in(raw: object, where: str) -> tuple[Verdict, ...]:
    items = _typed(raw, list, where)
    return tuple(_enum_in(Verdict, v, where) for v in items[-RECENT_VERDICTS:])


def _decoder(kind: type, optional: bool) -> Callable[[object, str], Any]:
    if optional:
        return lambda value, where: _optional(value, kind, where)
    return lambda value, where: _typed(value, kind, where)


_DECODE: dict[str, Callable[[object, str], Any]] = {
    "last_step": _decoder(int, True),
    "interval_minutes": _decoder(int, True),
    "next_due": _decoder(float, True),
    "snoozed_until": _decoder(float, True),
    "recent_verdicts": _verdicts_in,
    "stop": _stop_in,
    "review_count": _decoder(int, False),
    "log_offset": _decoder(int, False),
    "first_seen": _decoder(float, True),
    "started_at": _decoder(float, True),
    "finished": _decoder(bool, False),
    "review_decision": _decoder(str, True),
    "review_reason": _decoder(str, True),
    "last_verdict": lambda value, where: None if value is None else _enum_in(Verdict, value, where),
    "last_reason": _decoder(str, True),
    "last_loss": _loss_in,
    "last_checked": _decoder(float, True),
    "snoozed_by": _decoder(str, True),
    "last_trend": _decoder(str, True),
    "last_vs_baseline": _decoder(str, True),
    "last_error": _decoder(str, True),
    "ended_as": _decoder(str, True),
    "review_times": lambda value, where: tuple(_typed(t, float, where) for t in _typed(value, list, where)),
}


# ---- loading and embedding --------------------------------------------------------------


def load_state_or_default(text: str | None) -> tuple[State, str | None]:
    """The saved state, or the default state and a notice saying why it was rebuilt."""
    after = "and was rebuilt from defaults; runs will be checked at once."
    if text is None:
        return State(), f"The bot state was missing (no state block was found) {after}"
    try:
        return state_from_json(text), None
    except StateError as e:
        return State(), f"The bot state was {e.condition} ({e.reason}) {after}"


def embed_state(markdown: str, state: State) -> str:
    """`markdown` with the state as a hidden comment at its end (replacing any older one)."""
    body = _STATE_RE.sub("", markdown).rstrip("\n")
    comment = f"<!-- training-check:state {state_to_json(state)} -->\n"
    return f"{body}\n\n{comment}" if body else comment


def extract_state(markdown: str) -> str | None:
    """The state JSON hidden in `markdown`, or None.

    The last comment wins: `embed_state` always puts the real one at the end, so an
    earlier look-alike (say, from a hostile log path shown in the dashboard) is ignored.
    """
    found = _STATE_RE.findall(markdown)
    return found[-1] if found else None
