"""Commands in comments (`/stop`, `/snooze`, `/watch` …) as typed, validated values.

Pure, no I/O: the GitHub side (reactions, replies, state updates) builds on this module.
This module holds the values, their usage and help text, and who may command the bot
(`allowed`); `command_parsing` turns comment text into them and finds the runs they name.

Decisions where the product rules are silent:
- `all` always means every run. `/stop` and `/unwatch` take exactly one run, never `all`.
- A snooze lasts from 1 minute to 30 days. A new `/snooze` replaces the old one; it counts from now.
- A `/stop` reason is one plain line of at most MAX_REASON characters.
- A `/watch` is valid as a watch-list entry: the watch list's own validation decides.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from .config import PERMISSIONS
from .errors import TrainingCheckError
from .model import StopKind, StopTarget
from .watchlist import BadEntry, validate_entry
from .watchlist_edit import entry_to_dict

MIN_SNOOZE = 60
MAX_SNOOZE = 30 * 86400
MAX_REASON = 200
PERMISSION_ORDER = ("none", *PERMISSIONS)  # GitHub's levels, least first
WATCH_OPTIONS = ("host", *(k.value for k in StopKind), "log", "pr")
LINE_END = re.compile(r"\r\n|\r|\n")
# What `<run>` may be, for help and for refusals: "the run's …", "Name a run by its …".
RUN_REF_FORMS = "name, its W&B run id or entity/project/run_id, or a unique prefix of one"


class CommandError(TrainingCheckError):
    """A command the bot understood but cannot run as written; the tip is its usage line."""


class CommandName(enum.Enum):
    """The command words, as typed after the `/`."""

    STOP = "stop"
    SNOOZE = "snooze"
    RESUME = "resume"
    WATCH = "watch"
    UNWATCH = "unwatch"
    CHECK = "check"
    STATUS = "status"
    HELP = "help"


# Each command's usage line and its effect, for tips and `/help`.
_HELP = {
    CommandName.STOP: ("/stop <run> [reason…]", "stop the run now (same path as an automatic stop)"),
    CommandName.SNOOZE: (
        "/snooze <run|all> <30m|2h|1d>",
        "keep checking, but no automatic stop and no verdict comments until then",
    ),
    CommandName.RESUME: ("/resume <run|all>", "end a snooze"),
    CommandName.WATCH: (
        f"/watch <entity/project/run_id> [{' '.join(f'{k}=…' for k in WATCH_OPTIONS)}]",
        "add a run to the watch list",
    ),
    CommandName.UNWATCH: ("/unwatch <run>", "remove a run from the watch list"),
    CommandName.CHECK: ("/check [run|all]", "check now, whatever the schedule"),
    CommandName.STATUS: ("/status", "post the status table"),
    CommandName.HELP: ("/help", "list the commands"),
}


class All(enum.Enum):
    """The word `all`: every watched run."""

    ALL = "all"


ALL = All.ALL


@dataclass(frozen=True)
class RunRef:
    """One run as a command names it (name, run id, W&B path or a prefix); see `command_parsing.resolve_run`."""

    text: str

    def __post_init__(self) -> None:
        # Never empty (a prefix of everything) and never `all`, which means every run.
        bad = any(c.isspace() or not c.isprintable() for c in self.text)
        if not self.text or self.text == ALL.value or bad or len(self.text) > 400:
            raise ValueError("a run reference is one word of printable characters, not `all`")

    def __str__(self) -> str:
        return self.text


Target = RunRef | All


@dataclass(frozen=True)
class StopCommand:
    """`/stop <run> [reason…]`; `reason` is "" when none was given."""

    run: RunRef
    reason: str = ""
    name: ClassVar[CommandName] = CommandName.STOP

    def __post_init__(self) -> None:
        if len(self.reason) > MAX_REASON or LINE_END.search(self.reason):
            raise ValueError(f"a stop reason is one line of at most {MAX_REASON} characters")


@dataclass(frozen=True)
class SnoozeCommand:
    """`/snooze <run|all> <duration>`, the duration in whole seconds."""

    target: Target
    seconds: int
    name: ClassVar[CommandName] = CommandName.SNOOZE

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not MIN_SNOOZE <= self.seconds <= MAX_SNOOZE:
            raise ValueError(f"a snooze lasts {MIN_SNOOZE} to {MAX_SNOOZE} seconds")


@dataclass(frozen=True)
class ResumeCommand:
    """`/resume <run|all>`."""

    target: Target
    name: ClassVar[CommandName] = CommandName.RESUME


@dataclass(frozen=True)
class WatchCommand:
    """`/watch <entity/project/run_id> [key=value…]`, valid as a watch-list entry."""

    wandb: str
    host: str | None = None
    stop: StopTarget | None = None
    log: str | None = None
    pr: int | None = None
    name: ClassVar[CommandName] = CommandName.WATCH

    def __post_init__(self) -> None:
        try:  # the watch list's own validation: a command can add nothing it would reject
            validate_entry(self._fields(), 1)
        except BadEntry as e:
            raise ValueError(str(e)) from None

    def as_entry(self) -> dict[str, Any]:
        """The run as watch-list data for `watchlist_edit.add_entry`, e.g. `{"stop": {"pid": 1}}`."""
        return entry_to_dict(validate_entry(self._fields(), 1))

    def _fields(self) -> dict[str, Any]:
        stop = None if self.stop is None else {self.stop.kind.value: self.stop.value}
        return {"wandb": self.wandb, "host": self.host, "stop": stop, "log": self.log, "pr": self.pr}


@dataclass(frozen=True)
class UnwatchCommand:
    """`/unwatch <run>`."""

    run: RunRef
    name: ClassVar[CommandName] = CommandName.UNWATCH


@dataclass(frozen=True)
class CheckCommand:
    """`/check [run|all]` (ALL when no run is given)."""

    target: Target = ALL
    name: ClassVar[CommandName] = CommandName.CHECK


@dataclass(frozen=True)
class StatusCommand:
    """`/status`."""

    name: ClassVar[CommandName] = CommandName.STATUS


@dataclass(frozen=True)
class HelpCommand:
    """`/help`."""

    name: ClassVar[CommandName] = CommandName.HELP


Command = (
    StopCommand
    | SnoozeCommand
    | ResumeCommand
    | WatchCommand
    | UnwatchCommand
    | CheckCommand
    | StatusCommand
    | HelpCommand
)


def usage(name: CommandName) -> str:
    """The usage line of one command, for tips."""
    return f"Usage: `{_HELP[name][0]}`"


def help_text() -> str:
    """The commands as a Markdown list, one line each (for `/help` and refusals)."""
    lines = [f"- `{line}` — {effect}" for line, effect in _HELP.values()]
    return "\n".join(lines) + f"\n\n`<run>` is the run's {RUN_REF_FORMS}."


def snooze_until(now: float, seconds: float) -> float:
    """When a snooze given at `now` ends (epoch seconds); it replaces, never extends, an older one."""
    return now + seconds


# ---- permissions ------------------------------------------------------------------------


def allowed(permission: str, required: str) -> bool:
    """Whether a GitHub permission is at least `required` (an unknown permission never is)."""
    if required not in PERMISSION_ORDER:
        raise ValueError(f"unknown required permission {required!r}")
    return permission in PERMISSION_ORDER and PERMISSION_ORDER.index(permission) >= PERMISSION_ORDER.index(required)


def effective_permission(role_name: str | None, permission: str | None) -> str:
    """The level to check from GitHub's collaborator-permission answer.

    `role_name` has all six levels but may also be an organisation's custom role name; then
    the older `permission` field (admin/write/read/none) gives its base level.
    """
    for level in (role_name, permission):
        if level in PERMISSION_ORDER:
            return level
    return "none"
