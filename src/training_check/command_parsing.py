"""Comment text into commands: `parse_command` reads the first line of a comment, `resolve_run`
finds the watched run a command names. Pure, no I/O; the values are `commands`'.

Decisions where the product rules are silent:
- An unknown `/word` is not a command (None), so a comment that starts with a path is ignored;
  but a word one typo from a command, in any case, maybe with a trailing punctuation mark
  (`/stpo`, `/Stop`, `/stop,`), raises CommandError "did you mean `/stop`?": silence would
  let the person believe their command ran.
- Durations are whole numbers with `d`, `h`, `m` or `s`, combinable largest first (`1h30m`).
- `/check` alone checks all runs; `/status` and `/help` take no arguments.
- `/watch` values cannot contain spaces (there is no quoting): such a log path goes in the YAML.
- A `/stop` reason is made one plain line and cut to MAX_REASON characters.
- A run is named exactly by its name, W&B path or run id, else by a unique prefix of one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .commands import (
    ALL,
    LINE_END,
    MAX_REASON,
    MAX_SNOOZE,
    MIN_SNOOZE,
    RUN_REF_FORMS,
    WATCH_OPTIONS,
    All,
    CheckCommand,
    Command,
    CommandError,
    CommandName,
    HelpCommand,
    ResumeCommand,
    RunRef,
    SnoozeCommand,
    StatusCommand,
    StopCommand,
    Target,
    UnwatchCommand,
    WatchCommand,
    usage,
)
from .model import StopKind
from .watchlist import BadEntry, WatchEntry, validate_entry

_STOP_KEYS = frozenset(k.value for k in StopKind)
_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_DURATION = re.compile("".join(rf"(?:([0-9]{{1,7}}){u})?" for u, _ in _UNITS))
_WORDISH = re.compile(r"[a-z]{2,20}")


def parse_command(first_line: str) -> Command | None:
    """The command on the first line of a comment (a whole body is fine: only line 1 is read).

    None when that line is not a command; CommandError for a command with bad arguments,
    or for a word close to a command.
    """
    line = LINE_END.split(first_line, maxsplit=1)[0].strip()
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


@dataclass(frozen=True)
class _Form:
    """How many words a command takes (`takes` says it, for errors) and how it is built from
    them and its raw argument text (for `/stop`'s reason)."""

    takes: str
    least: int
    most: int
    build: Callable[[list[str], str], Command]


_FORMS = {
    CommandName.STOP: _Form(
        "a run and maybe a reason",
        1,
        10**6,
        lambda w, a: StopCommand(_run_ref(w[0], CommandName.STOP), _reason(_first_word(a)[1])),
    ),
    CommandName.SNOOZE: _Form(
        "a run (or `all`) and a duration like `2h`",
        2,
        2,
        lambda w, _: SnoozeCommand(_target(w[0], CommandName.SNOOZE), parse_duration(w[1])),
    ),
    CommandName.RESUME: _Form(
        "one run (or `all`)", 1, 1, lambda w, _: ResumeCommand(_target(w[0], CommandName.RESUME))
    ),
    CommandName.WATCH: _Form(
        "a W&B run path entity/project/run_id, then optional `key=value` options",
        1,
        1 + len(WATCH_OPTIONS),
        lambda w, _: _watch(w[0], w[1:]),
    ),
    CommandName.UNWATCH: _Form("one run", 1, 1, lambda w, _: UnwatchCommand(_run_ref(w[0], CommandName.UNWATCH))),
    CommandName.CHECK: _Form(
        "at most one run (or `all`)",
        0,
        1,
        lambda w, _: CheckCommand(_target(w[0], CommandName.CHECK) if w else ALL),
    ),
    CommandName.STATUS: _Form("no arguments", 0, 0, lambda w, _: StatusCommand()),
    CommandName.HELP: _Form("no arguments", 0, 0, lambda w, _: HelpCommand()),
}


def _build(name: CommandName, args: str) -> Command:
    """The command `name` from its arguments (the text after the command word)."""
    form, words = _FORMS[name], args.split()
    if not form.least <= len(words) <= form.most:
        problem = f"takes {form.takes}, not `{_echo(args)}`" if words else f"needs {form.takes}"
        raise CommandError(f"`/{name.value}` {problem}.", usage(name))
    return form.build(words, args)


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
    return _clip(plain, MAX_REASON)


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
        raise CommandError(f"`{text}` is too short: a snooze lasts at least `{format_duration(MIN_SNOOZE)}`.", tip)
    if seconds > MAX_SNOOZE:
        raise CommandError(f"`{text}` is too long: a snooze lasts at most `{format_duration(MAX_SNOOZE)}`.", tip)
    return seconds


def format_duration(seconds: float) -> str:
    """`seconds` (>= 0) the way `/snooze` takes them, e.g. 5400 -> `1h30m` (whole seconds)."""
    rest, parts = int(seconds), []
    for unit, size in _UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# ---- runs -------------------------------------------------------------------------------


def resolve_run(ref: str | RunRef, entries: Sequence[WatchEntry]) -> WatchEntry:
    """The watched run `ref` names: its name, W&B path or run id, exactly, else a unique prefix."""
    text = str(ref)
    exact = [e for e in entries if text in _keys(e)]
    found = exact or [e for e in entries if text and any(k.startswith(text) for k in _keys(e))]
    if len(found) == 1:
        return found[0]
    tip = f"Name a run by its {RUN_REF_FORMS}."
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


def _echo(text: str, limit: int = 40) -> str:
    """Typed text quoted in a reply: no backticks or control characters to break out of the
    code span, and short."""
    return _clip("".join(c if c.isprintable() and c != "`" else "?" for c in text), limit)


def _clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, the last an ellipsis when anything was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
