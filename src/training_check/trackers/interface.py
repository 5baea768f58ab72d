"""The tracker interface: what the watch loop needs from the place its runs are listed."""

from __future__ import annotations

from typing import Protocol

from ..state import State
from ..watchlist import WatchEntry, WatchList


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

    def describe(self) -> str:
        """Where this tracker lives, for messages (e.g. "issue #12 of org/repo")."""
        ...
