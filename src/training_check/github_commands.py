"""Step 2 of the cycle: the commands people typed in comments, applied.

For each new comment: its first line is parsed (not a command: ignored) → the author's
permission is checked before anything else is said (refused: one polite reply per person
and cycle, and nothing happens) → 👀 → the command → 🚀, or 😕 and a reply saying why.
`/stop`, `/check` and `/status` finish after the checks: the cycle calls `Orders.finish`.

Decisions where the product rules are silent:
- On a pull request that no watched run links, only `/watch` is read (it links the PR).
- A command edited before the bot read it is not run; its author is told to post it again.
- `/unwatch` also forgets the run's state; `/stop` works on a snoozed run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .command_parsing import parse_command, resolve_run, resolve_target
from .commands import (
    CheckCommand,
    Command,
    CommandError,
    HelpCommand,
    ResumeCommand,
    SnoozeCommand,
    StatusCommand,
    StopCommand,
    UnwatchCommand,
    WatchCommand,
    allowed,
    help_text,
    snooze_until,
)
from .config import Config
from .errors import TrainingCheckError
from .model import StopOutcome
from .report.render import render_dashboard
from .report.views import RunView
from .state import State
from .trackers.interface import CommandComment, Inbox, Tracker
from .watchlist import WatchList
from .watchlist_edit import add_entry, remove_entry

_DONE_STOPS = (StopOutcome.STOPPED, StopOutcome.ALREADY_GONE, StopOutcome.DRY_RUN)
_FINAL_STOPS = (StopOutcome.STOPPED, StopOutcome.ALREADY_GONE, StopOutcome.REFUSED)


@dataclass(frozen=True)
class StopOrder:
    """A `/stop` to carry out this cycle, by "@login"."""

    by: str
    reason: str


@dataclass
class Orders:
    """What the commands ask of this cycle, and what is left to say once it has run."""

    state: State
    watch: WatchList
    forced: set[str] = field(default_factory=set)  # run names to check now
    stops: dict[str, StopOrder] = field(default_factory=dict)  # run name -> order
    handled: int = 0  # commands seen (the cycle saves the state before checking if any)
    notices: list[str] = field(default_factory=list)
    inbox: Inbox | None = None
    later: list[tuple[CommandComment, Command]] = field(default_factory=list)

    def finish(self, state: State, views: Sequence[RunView], notices: Sequence[str], now: float) -> list[str]:
        """🚀 or 😕 for the commands that waited for the checks, the status tables; the notices
        of what could not be answered."""
        late: list[str] = []
        if self.inbox is None:
            return late
        for comment, command in self.later:
            try:
                if isinstance(command, StopCommand):
                    _finish_stop(self.inbox, comment, state, resolve_run(command.run, self.watch.entries).name)
                    continue
                if isinstance(command, StatusCommand):
                    self.inbox.reply(comment, status_table(views, notices, now))
                self.inbox.react(comment, "rocket")
            except TrainingCheckError as e:  # the cycle is done; what failed is only the answer
                late.append(f"Command in comment {comment.id}: {e.message}")
        return late


def take_commands(
    tracker: Tracker, config: Config, watch: WatchList, state: State, *, now: float, event: Mapping[str, Any] | None
) -> Orders:
    """Apply the new commands; `last_command` moves past every comment seen, so none runs twice."""
    inbox = tracker.inbox(event)
    orders = Orders(state, watch, inbox=inbox)
    if inbox is None:
        return orders
    try:
        comments = inbox.new_comments()
    except TrainingCheckError as e:  # commands wait for the next cycle; the runs are checked now
        orders.notices.append(f"New commands could not be read: {e.message}")
        return orders
    refused: set[str] = set()
    for comment in comments:
        orders.state = replace(orders.state, last_command=max(orders.state.last_command or 0, comment.id))
        try:
            _take(inbox, config, comment, orders, now=now, refused=refused)
        except TrainingCheckError as e:  # GitHub failed us on this comment; go on with the next
            orders.notices.append(f"Command in comment {comment.id} could not be handled: {e.message}")
    return orders


def _take(
    inbox: Inbox, config: Config, comment: CommandComment, orders: Orders, *, now: float, refused: set[str]
) -> None:
    """One comment: permission first, then 👀, the command, and 🚀 or 😕 with a reply."""
    try:
        command, problem = parse_command(comment.body), None
    except CommandError as e:
        command, problem = None, e
    if command is None and problem is None:
        return  # not a command
    if comment.on_pull and comment.number not in inbox.linked_pulls() and not isinstance(command, WatchCommand):
        return  # another bot's `/help`, maybe: only `/watch` links a new pull request
    orders.handled += 1
    level = inbox.permission(comment.author)
    if not allowed(level, config.commands.permission):
        inbox.react(comment, "confused")
        if comment.author not in refused:  # a flood of comments gets one answer
            refused.add(comment.author)
            inbox.reply(comment, _refusal(comment.author, level, config.commands.permission))
        return
    inbox.react(comment, "eyes")
    if comment.edited:
        problem = CommandError(
            "This comment was edited before I read it, and edited comments are not run.",
            tip="Post the command again as a new comment.",
        )
    if problem is not None or command is None:
        _fail(inbox, comment, problem or CommandError("Not a command."))
        return
    try:
        done = _apply(command, comment, orders, inbox, now)
    except TrainingCheckError as e:
        _fail(inbox, comment, e)
        return
    if done:
        inbox.react(comment, "rocket")
    else:
        orders.later.append((comment, command))


def _apply(command: Command, comment: CommandComment, orders: Orders, inbox: Inbox, now: float) -> bool:
    """Carry out one command; True when it is done, False when it finishes after the checks."""
    if isinstance(command, HelpCommand):
        inbox.reply(comment, f"The commands:\n\n{help_text()}")
        return True
    if isinstance(command, StatusCommand):
        return False
    if isinstance(command, CheckCommand):
        orders.forced |= {e.name for e in resolve_target(command.target, orders.watch.entries)}
        return False
    if isinstance(command, SnoozeCommand | ResumeCommand):
        _snooze(command, comment, orders, now)
        return True
    if isinstance(command, WatchCommand | UnwatchCommand):
        _edit_watch(command, comment, orders, inbox)
        return True
    return _order_stop(command, comment, orders)


def _snooze(command: SnoozeCommand | ResumeCommand, comment: CommandComment, orders: Orders, now: float) -> None:
    """Set (or, for `/resume`, clear) the snooze of the runs named."""
    until = snooze_until(now, command.seconds) if isinstance(command, SnoozeCommand) else None
    who = f"@{comment.author}" if until is not None else None
    for entry in resolve_target(command.target, orders.watch.entries):
        run = replace(orders.state.run(entry.name), snoozed_until=until, snoozed_by=who)
        orders.state = orders.state.with_run(entry.name, run)


def _edit_watch(command: WatchCommand | UnwatchCommand, comment: CommandComment, orders: Orders, inbox: Inbox) -> None:
    """Add or remove a run in the issue body's YAML block."""
    source = "the tracking issue"
    if isinstance(command, WatchCommand):
        if comment.on_pull and command.pr is None:
            command = replace(command, pr=comment.number)  # watched from a PR: report there too
        data = command.as_entry()
        orders.watch = inbox.edit_watch_list(lambda text: add_entry(text, data, source))
        return
    name = resolve_run(command.run, orders.watch.entries).name
    orders.watch = inbox.edit_watch_list(lambda text: remove_entry(text, name, source))
    orders.state = replace(orders.state, runs={n: r for n, r in orders.state.runs.items() if n != name})


def _order_stop(command: StopCommand, comment: CommandComment, orders: Orders) -> bool:
    """A `/stop` is checked now and carried out by the cycle, through the automatic stop's path."""
    entry = resolve_run(command.run, orders.watch.entries)
    if entry.stop is None:
        raise CommandError(
            f"`{entry.name}` cannot be stopped: the watch list gives no `stop:` handle for it.",
            tip="Add one to its entry, e.g. `stop: {pid: 48121}`.",
        )
    previous = orders.state.run(entry.name).stop
    if previous is not None and previous.outcome in _FINAL_STOPS:
        raise CommandError(f"`{entry.name}` was stopped already ({previous.outcome.value}): {previous.detail}")
    reason = command.reason or "stop requested"
    orders.stops[entry.name] = StopOrder(f"@{comment.author}", reason)
    return False


def _finish_stop(inbox: Inbox, comment: CommandComment, state: State, name: str) -> None:
    """🚀 when the run stopped (or would have, in a dry run), else 😕 and what went wrong."""
    record = state.run(name).stop
    if record is not None and record.outcome in _DONE_STOPS:
        inbox.react(comment, "rocket")
        return
    why = f"{record.outcome.value}. {record.detail}" if record else "the stop could not begin (see the dashboard)"
    _fail(inbox, comment, TrainingCheckError(f"`{name}` was not stopped: {why}"))


def _fail(inbox: Inbox, comment: CommandComment, error: TrainingCheckError) -> None:
    """😕 and a reply saying why (and what to type instead)."""
    inbox.react(comment, "confused")
    tip = f"\n\n{error.tip}" if error.tip else ""
    inbox.reply(comment, f"@{comment.author}: {_safe(error.message)}{_safe(tip)}")


def _refusal(author: str, level: str, required: str) -> str:
    return (
        f"Sorry @{author}, only people with at least `{required}` permission on this repository can "
        f"command training-check (yours is `{level}`), so nothing was done."
    )


def _safe(text: str) -> str:
    """Our text quotes what people typed: never let it open an HTML comment in the reply."""
    return text.replace("<!--", "<\u200b!--").replace("-->", "--\u200b>")


def status_table(views: Sequence[RunView], notices: Sequence[str], now: float) -> str:
    """The dashboard table for a `/status` reply, without the dashboard's marker (a reply
    carrying it would look like a second dashboard)."""
    text = render_dashboard(views, notices, now, reserve=200)
    return text.split("\n", 1)[1] if text.startswith("<!--") else text
