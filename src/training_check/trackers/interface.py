"""The tracker interface: what the watch loop needs from the place its runs are listed.

A tracker that takes commands (GitHub) also hands out an `Inbox`: the new comments and
the ways to answer them. A local tracker has none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..state import State
from ..watchlist import WatchEntry, WatchList

# A commit status: watching or unsure / healthy or finished / bad or stopped.
CommitState = Literal["pending", "success", "failure"]
# The reactions the bot gives: seen, done, could not.
Reaction = Literal["eyes", "rocket", "confused"]


@dataclass(frozen=True)
class CommandComment:
    """A comment that may hold a command; `number` is the issue or pull request it is on."""

    id: int
    number: int
    on_pull: bool
    author: str
    body: str
    edited: bool = False  # changed after it was posted: never run


class Inbox(Protocol):
    """The comments posted since the last cycle, and how the bot answers them."""

    def new_comments(self) -> Sequence[CommandComment]:
        """Comments not handled yet (never the bot's own), oldest first."""
        ...

    def linked_pulls(self) -> frozenset[int]:
        """The pull requests whose comments are read (named by `pr:` of watched runs)."""
        ...

    def permission(self, login: str) -> str:
        """The repository permission of `login`: none, read, triage, write, maintain or admin."""
        ...

    def react(self, comment: CommandComment, reaction: Reaction) -> None:
        """Add the bot's reaction to `comment` (adding it twice is harmless)."""
        ...

    def reply(self, comment: CommandComment, markdown: str) -> None:
        """Answer `comment` with a new comment where it was posted."""
        ...

    def edit_watch_list(self, change: Callable[[str], str]) -> WatchList:
        """Apply `change` to the current watch-list text (read again just before writing, so a
        concurrent human edit is kept) and return the new watch list."""
        ...


class Tracker(Protocol):
    """Reads the watch list and the bot state, writes the dashboard and the verdict reports."""

    def read_watch_list(self) -> WatchList:
        """The runs to watch, with a problem for each entry that could not be understood."""
        ...

    def load_state(self) -> tuple[State, str | None]:
        """The saved state, or the default one plus a notice saying why it was rebuilt."""
        ...

    def publish(self, dashboard_markdown: str, state: State) -> None:
        """Write the dashboard with `state` hidden in it, replacing the previous one."""
        ...

    def post_verdict(self, entry: WatchEntry, markdown: str) -> None:
        """Report a verdict on `entry` where people will see it."""
        ...

    def set_status(self, entry: WatchEntry, state: CommitState, description: str) -> None:
        """Show the run's health on the pull request it is linked to (`pr:`), if the tracker can."""
        ...

    def inbox(self, event: Mapping[str, Any] | None) -> Inbox | None:
        """The commands channel after `load_state`, or None when this tracker takes no commands.

        `event` is the webhook payload of the trigger (an `issue_comment`), if any.
        """
        ...

    def describe(self) -> str:
        """Where this tracker lives, for messages (e.g. "issue #12 of org/repo")."""
        ...
