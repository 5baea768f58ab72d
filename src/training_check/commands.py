"""Commands in comments (`/stop`, `/snooze`, `/watch` …) parsed into typed, validated values.

Pure, no I/O: the GitHub side (reactions, replies, state updates) builds on this module.
`parse_command` reads the first line of a comment, `resolve_run` finds the watched run a
command names, `allowed` decides who may command the bot.

Decisions where the product rules are silent:
- An unknown `/word` is not a command (None), so a comment that starts with a path is ignored;
  but a word one typo from a command, in any case, maybe with a trailing punctuation mark
  (`/stpo`, `/Stop`, `/stop,`), raises CommandError "did you mean `/stop`?": silence would
  let the person believe their command ran.
- Durations are whole numbers with `d`, `h`, `m` or `s`, combinable largest first (`1h30m`),
  from 1 minute to 30 days. A new `/snooze` replaces the old one; it counts from now.
- `all` always means every run. `/stop` and `/unwatch` take exactly one run, never `all`.
- `/check` alone checks all runs; `/status` and `/help` take no arguments.
- `/watch` values cannot contain spaces (there is no quoting): such a log path goes in the YAML.
- A `/stop` reason is made one plain line and cut to MAX_REASON characters.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .config import PERMISSIONS
from .errors import TrainingCheckError
from .model import StopKind, StopTarget
from .watchlist import BadEntry, WatchEntry, validate_entry

MIN_SNOOZE = 60
MAX_SNOOZE = 30 * 86400
MAX_REASON = 200
PERMISSION_ORDER = ("none", *PERMISSIONS)  # GitHub's levels, least first
WATCH_OPTIONS = ("host", *(k.value for k in StopKind), "log", "pr")
_STOP_KEYS = frozenset(k.value for k in StopKind)
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile("".join(rf"(?:([0-9]{{1,7}}){u})?" for u, _ in _UNITS))
_LINE_END = re.compile(r"\r\n|\r|\n")
_WORDISH = re.compile(r"[a-z]{2,20}")


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


@dataclass(frozen=True)
class _Spec:
    """A command's usage line, its effect, and how many words it takes (for errors: `takes`)."""

    usage: str
    effect: str
    takes: str
    least: int
    most: int


_SPECS = {
    CommandName.STOP: _Spec(
        "/stop <run> [reason…]",
        "stop the run now (same path as an automatic stop)",
        "a run and maybe a reason",
        1,
        10**6,
    ),
    CommandName.SNOOZE: _Spec(
        "/snooze <run|all> <30m|2h|1d>",
        "keep checking, but no automatic stop and no verdict comments until then",
        "a run (or `all`) and a duration like `2h`",
        2,
        2,
    ),
    CommandName.RESUME: _Spec("/resume <run|all>", "end a snooze", "one run (or `all`)", 1, 1),
    CommandName.WATCH: _Spec(
        f"/watch <entity/project/run_id> [{' '.join(f'{k}=…' for k in WATCH_OPTIONS)}]",
        "add a run to the watch list",
        "a W&B run path entity/project/run_id, then optional `key=value` options",
        1,
        1 + len(WATCH_OPTIONS),
    ),
    CommandName.UNWATCH: _Spec("/unwatch <run>", "remove a run from the watch list", "one run", 1, 1),
    CommandName.CHECK: _Spec(
        "/check [run|all]", "check now, whatever the schedule", "at most one run (or `all`)", 0, 1
    ),
    CommandName.STATUS: _Spec("/status", "post the status table", "no arguments", 0, 0),
    CommandName.HELP: _Spec("/help", "list the commands", "no arguments", 0, 0),
}


class All(enum.Enum):
    """The word `all`: every watched run."""

    ALL = "all"


ALL = All.ALL


@dataclass(frozen=True)
class RunRef:
    """One run as a command names it (name, run id, W&B path or a prefix); see `resolve_run`."""

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
        if len(self.reason) > MAX_REASON or _LINE_END.search(self.reason):
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
            validate_entry(self.as_entry(), 1)
        except BadEntry as e:
            raise ValueError(str(e)) from None

    def as_entry(self) -> dict[str, Any]:
        """The run as watch-list data for `watchlist_edit.add_entry`, e.g. `{"stop": {"pid": 1}}`."""
        data: dict[str, Any] = {"wandb": self.wandb}
        if self.host is not None:
            data["host"] = self.host
        if self.stop is not None:
            numeric = self.stop.kind not in (StopKind.TMUX, StopKind.SCREEN)
            data["stop"] = {self.stop.kind.value: int(self.stop.value) if numeric else self.stop.value}
        if self.log is not None:
            data["log"] = self.log
        if self.pr is not None:
            data["pr"] = self.pr
        return data


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
    return f"Usage: `{_SPECS[name].usage}`"


def help_text() -> str:
    """The commands as a Markdown list, one line each (for `/help` and refusals)."""
    lines = [f"- `{spec.usage}` — {spec.effect}" for spec in _SPECS.values()]
    note = "`<run>` is the run's name, its W&B run id or entity/project/run_id, or a unique prefix of one."
    return "\n".join(lines) + "\n\n" + note


# ---- parsing ----------------------------------------------------------------------------


def parse_command(first_line: str) -> Command | None:
    """The command on the first line of a comment (a whole body is fine: only line 1 is read).

    None when that line is not a command; CommandError for a command with bad arguments,
    or for a word close to a command.
    """
    line = _LINE_END.split(first_line, maxsplit=1)[0].strip()
    if not line.startswith("/") or len(line) < 2 or line[1].isspace():
        return None
    word, rest = _first_word(line[1:])
    known = next((n for n in CommandName if n.value == word), None)
    if known is None:
        _near_miss(word)
        return None
    return _build(known, rest)


def _first_word(text: str) -> tuple[str, str]:
    """The first word of `text` and the rest, without the whitespace between them."""
    parts = text.split(maxsplit=1)
    return (parts[0] if parts else ""), (parts[1] if len(parts) > 1 else "")


def _near_miss(word: str) -> None:
    """Raise "did you mean" for a word one typo, a capital or a punctuation mark from a command."""
    bare = word.rstrip(".,:;!?").lower()
    close = [n for n in CommandName if _WORDISH.fullmatch(bare) and _one_edit(bare, n.value)]
    if close:
        raise CommandError(f"`/{word}` is not a command; did you mean `/{close[0].value}`?", usage(close[0]))


def _one_edit(a: str, b: str) -> bool:
    """Whether `a` is `b` or one insertion, deletion, change or swap of neighbours from it."""
    if abs(len(a) - len(b)) > 1:
        return False
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    swapped = a[i : i + 2] == b[i : i + 2][::-1] and a[i + 2 :] == b[i + 2 :]
    return a[i + 1 :] == b[i + 1 :] or a[i:] == b[i + 1 :] or a[i + 1 :] == b[i:] or swapped


def _build(name: CommandName, args: str) -> Command:
    """The command `name` from its arguments (the text after the command word)."""
    spec, words = _SPECS[name], args.split()
    if not spec.least <= len(words) <= spec.most:
        problem = f"takes {spec.takes}, not `{_echo(args)}`" if words else f"needs {spec.takes}"
        raise CommandError(f"`/{name.value}` {problem}.", usage(name))
    return _BUILDERS[name](words, args)


# Each command from its words (already counted) and its raw argument text (for `/stop`'s reason).
_BUILDERS: dict[CommandName, Callable[[list[str], str], Command]] = {
    CommandName.STOP: lambda w, a: StopCommand(_run_ref(w[0], CommandName.STOP), _reason(_first_word(a)[1])),
    CommandName.SNOOZE: lambda w, _: SnoozeCommand(_target(w[0], CommandName.SNOOZE), parse_duration(w[1])),
    CommandName.RESUME: lambda w, _: ResumeCommand(_target(w[0], CommandName.RESUME)),
    CommandName.WATCH: lambda w, _: _watch(w[0], w[1:]),
    CommandName.UNWATCH: lambda w, _: UnwatchCommand(_run_ref(w[0], CommandName.UNWATCH)),
    CommandName.CHECK: lambda w, _: CheckCommand(_target(w[0], CommandName.CHECK) if w else ALL),
    CommandName.STATUS: lambda w, _: StatusCommand(),
    CommandName.HELP: lambda w, _: HelpCommand(),
}


def _run_ref(word: str, name: CommandName) -> RunRef:
    if word == ALL.value:
        raise CommandError(f"`/{name.value}` works on one run at a time, not `all`; name the run.", usage(name))
    try:
        return RunRef(word)
    except ValueError:
        raise CommandError(f"`{_echo(word)}` is not a run name.", usage(name)) from None


def _target(word: str, name: CommandName) -> Target:
    return ALL if word == ALL.value else _run_ref(word, name)


def _reason(text: str) -> str:
    """One plain line: the reason lands in the stop record and in comments."""
    plain = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return plain if len(plain) <= MAX_REASON else plain[: MAX_REASON - 1] + "…"


def _watch(path: str, options: Sequence[str]) -> WatchCommand:
    """Validate `/watch` options as a watch-list entry would be: one validator for both."""
    tip = usage(CommandName.WATCH)
    raw: dict[str, Any] = {"wandb": path}
    stop: dict[str, str] = {}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or key not in WATCH_OPTIONS:
            known = ", ".join(f"`{k}=`" for k in WATCH_OPTIONS)
            raise CommandError(f"`{_echo(option)}` is not a `/watch` option; use {known} (no spaces).", tip)
        if key in raw or key in stop:
            raise CommandError(f"`{key}=` is given twice.", tip)
        if key in _STOP_KEYS:  # the watch list wants them as `stop: {kind: value}`
            stop[key] = value
        else:
            raw[key] = _whole(value) if key == "pr" else value
    if stop:
        raw["stop"] = stop  # two handles stay two, so the watch list's check says "exactly one"
    try:
        entry = validate_entry(raw, 1)
    except BadEntry as e:
        raise CommandError(f"This run cannot be watched: {e}.", tip) from None
    return WatchCommand(path, entry.host, entry.stop, entry.log, entry.pr)


def _whole(value: str) -> int | str:
    """`value` as an int when it is plain ASCII digits; otherwise as is, for the watch list's
    check to reject with its own message (the length cap keeps int() away from huge strings)."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else value


# ---- durations --------------------------------------------------------------------------


def parse_duration(text: str) -> int:
    """Seconds in a snooze duration like `30m`, `2h`, `1d` or `1h30m` (1 minute to 30 days)."""
    tip = usage(CommandName.SNOOZE)
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        raise CommandError(
            f"`{_echo(text)}` is not a duration: use a whole number and a unit, like `30m`, `2h` or `1d`.", tip
        )
    seconds = sum(int(count) * size for count, (_, size) in zip(match.groups(), _UNITS, strict=True) if count)
    if seconds < MIN_SNOOZE:
        raise CommandError(f"`{text}` is too short: a snooze lasts at least `1m`.", tip)
    if seconds > MAX_SNOOZE:
        raise CommandError(f"`{text}` is too long: a snooze lasts at most `30d`.", tip)
    return seconds


def format_duration(seconds: float) -> str:
    """`seconds` (>= 0) the way `/snooze` takes them, e.g. 5400 -> `1h30m` (whole seconds)."""
    rest, parts = int(seconds), []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def snooze_until(now: float, seconds: float) -> float:
    """When a snooze given at `now` ends (epoch seconds); it replaces, never extends, an older one."""
    return now + seconds


# ---- runs and permissions ---------------------------------------------------------------


def resolve_run(ref: str | RunRef, entries: Sequence[WatchEntry]) -> WatchEntry:
    """The watched run `ref` names: its name, W&B path or run id, exactly, else a unique prefix."""
    text = str(ref)
    exact = [e for e in entries if text in _keys(e)]
    found = exact or [e for e in entries if text and any(k.startswith(text) for k in _keys(e))]
    if len(found) == 1:
        return found[0]
    tip = "Name a run by its name, its W&B run id or entity/project/run_id, or a unique prefix of one."
    if found:
        raise CommandError(f"`{_echo(text)}` matches {_names(found)}; give more of the name.", tip)
    watched = f"watched: {', '.join(f'`{e.name}`' for e in entries)}" if entries else "no run is watched"
    raise CommandError(f"No watched run matches `{_echo(text)}`; {watched}.", tip)


def resolve_target(target: Target, entries: Sequence[WatchEntry]) -> tuple[WatchEntry, ...]:
    """The runs a command's target means: all of them for ALL, else the one `resolve_run` finds."""
    if isinstance(target, All):
        return tuple(entries)
    return (resolve_run(target, entries),)


def _keys(entry: WatchEntry) -> tuple[str, ...]:
    if entry.wandb is None:
        return (entry.name,)
    return (entry.name, entry.wandb, entry.wandb.rsplit("/", 1)[1])


def _names(entries: Sequence[WatchEntry]) -> str:
    """`a` and `b`; `a`, `b` and `c` (names are validated plain words, safe in backticks)."""
    names = [f"`{e.name}`" for e in entries]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


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


def _echo(text: str, limit: int = 40) -> str:
    """Typed text quoted in a reply: no backticks or control characters to break out of the
    code span, and short."""
    clean = "".join(c if c.isprintable() and c != "`" else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
