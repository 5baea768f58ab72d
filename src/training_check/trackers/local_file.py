"""A tracker made of local files: the watch list, a dashboard file and a report file beside it.

The dashboard holds the state in the same hidden comment as on GitHub, so a local setup
exercises exactly the code paths of the real one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..atomic import write_atomic
from ..errors import TrainingCheckError
from ..state import State, embed_state, extract_state, load_state_or_default
from ..watchlist import EXAMPLE, WatchEntry, WatchList, parse_watch_list
from .interface import CommitState, Inbox

RULE = "\n---\n\n"  # between two reports in the report file


class LocalTracker:
    """The watch list from a Markdown or YAML file; dashboard and reports as Markdown files.

    Defaults: `<stem>.dashboard.md` and `<stem>.reports.md` beside the watch file.
    """

    def __init__(
        self,
        watch_path: str | Path,
        dashboard_path: str | Path | None = None,
        report_path: str | Path | None = None,
    ) -> None:
        self.watch_path = Path(watch_path)
        stem = self.watch_path.with_suffix("")
        self.dashboard_path = Path(dashboard_path or f"{stem}.dashboard.md")
        self.report_path = Path(report_path or f"{stem}.reports.md")
        for other in (self.dashboard_path, self.report_path):
            if _same_file(other, self.watch_path):
                raise TrainingCheckError(
                    f"{other} is the watch list itself; it cannot also be the dashboard or the reports.",
                    tip="Choose another file for the dashboard and the reports.",
                )

    def read_watch_list(self) -> WatchList:
        """Parse the watch file (a missing or unreadable file is an error with an example)."""
        return parse_watch_list(self._read_watch_file(), str(self.watch_path))

    def load_state(self) -> tuple[State, str | None]:
        """The state hidden in the dashboard file; missing or corrupt -> defaults + notice."""
        try:
            text: str | None = self.dashboard_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as e:
            state, _ = load_state_or_default(None)
            return state, (
                f"The bot state could not be read from {self.dashboard_path} ({e}) and was "
                "rebuilt from defaults; runs will be checked at once."
            )
        return load_state_or_default(None if text is None else extract_state(text))

    def publish(self, dashboard_markdown: str, state: State) -> None:
        """Replace the dashboard file in one step, with the state embedded."""
        try:
            write_atomic(self.dashboard_path, embed_state(dashboard_markdown, state))
        except OSError as e:
            raise TrainingCheckError(f"Cannot write the dashboard {self.dashboard_path}: {e}") from e

    def post_verdict(self, entry: WatchEntry, markdown: str) -> None:
        """Append the report to the report file, after a horizontal rule if it has one already."""
        try:
            earlier = self.report_path.exists() and self.report_path.stat().st_size > 0
            with self.report_path.open("a", encoding="utf-8") as out:
                out.write((RULE if earlier else "") + markdown.rstrip("\n") + "\n")
        except OSError as e:
            raise TrainingCheckError(
                f"Cannot write the report on {entry.name} to {self.report_path}: {e}"
            ) from e

    def set_status(self, entry: WatchEntry, state: CommitState, description: str) -> None:
        """Nothing: commit statuses live on GitHub; the dashboard already shows the run's health."""

    def inbox(self, event: Mapping[str, Any] | None) -> Inbox | None:
        """None: commands are typed in GitHub comments; locally the watch file is edited by hand."""
        return None

    def describe(self) -> str:
        """The watch file and the dashboard file."""
        return f"the local file {self.watch_path} (dashboard: {self.dashboard_path})"

    def _read_watch_file(self) -> str:
        try:
            return self.watch_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            bare = self.watch_path.suffix.lower() in (".yaml", ".yml")
            example = EXAMPLE.split("\n", 1)[1].rsplit("\n", 1)[0] if bare else EXAMPLE  # no fence in YAML
            raise TrainingCheckError(
                f"The watch list {self.watch_path} does not exist.",
                tip=f"Create it with the runs to watch, for example:\n{example}",
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise TrainingCheckError(f"Cannot read the watch list {self.watch_path}: {e}") from e


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()
