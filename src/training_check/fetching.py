"""The sources of a run, tried in order: W&B first, then its log file (over SSH or local).

Each source fetches only what is new since its cursor; the history store keeps the rest.
When every source fails, the errors of all of them are reported together and nothing is
assumed about the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .history_store import HistoryStore, merge
from .model import History
from .sources.errors import SourceError
from .sources.interface import Fetched, Source
from .sources.log_source import LogSource
from .sources.wandb_api import WandbApiSource
from .sources.wandb_sdk import ApiFactory
from .transport import Transport
from .watchlist import WatchEntry

SourcesFor = Callable[[WatchEntry], Sequence[Source]]


@dataclass(frozen=True)
class Reading:
    """A run's whole history as known now, and what the answering source said."""

    history: History
    fetched: Fetched
    source: str
    fallbacks: tuple[str, ...] = ()  # why the sources before it did not answer


class Unreachable(SourceError):
    """No source of the run could be read."""


def fetch_run(entry: WatchEntry, sources: Sequence[Source], store: HistoryStore) -> Reading:
    """The history from the first source that answers; Unreachable names every failure."""
    if not sources:
        raise Unreachable(
            f"`{entry.name}` has no source to read",
            tip="give the run a `wandb:` path or a `log:` file in the watch list",
        )
    failures: list[str] = []
    empty: Reading | None = None  # a source that answered with no metrics at all
    for source in sources:
        old, cursor = store.load(entry.name, source.name)
        if cursor is not None and not old.series:
            cursor = None  # the history was lost (a fresh cache): read from the start
        try:
            fetched = source.fetch(cursor)
        except SourceError as e:
            failures.append(f"{source.name}: {e.message}")
            continue
        history = fetched.new if fetched.reset or cursor is None else merge(old, fetched.new)
        store.save(entry.name, source.name, history, fetched.cursor)
        reading = Reading(history, fetched, source.name, tuple(failures))
        if history.series:
            return reading
        # W&B may know the run but hold none of its metrics (an offline run): try the log.
        empty = empty or reading
        failures.append(f"{source.name}: no metrics logged yet")
    if empty is not None:
        return empty
    raise Unreachable("; ".join(failures), tip="the run will be checked again in 10 minutes")


def log_sources(transport_for: Callable[[str | None], Transport]) -> SourcesFor:
    """Sources from the watch list's `log:` entries: over SSH with `host:`, else local."""
    return run_sources(transport_for, None)


def run_sources(transport_for: Callable[[str | None], Transport], wandb: ApiFactory | None) -> SourcesFor:
    """W&B first (when the run has a `wandb:` path and W&B is configured), then the log file."""

    def sources_for(entry: WatchEntry) -> Sequence[Source]:
        sources: list[Source] = []
        if entry.wandb is not None and wandb is not None:
            sources.append(WandbApiSource(entry.wandb, wandb))
        if entry.log is not None:
            transport = transport_for(entry.host) if entry.host is not None else None
            sources.append(LogSource(entry.log, transport))
        return sources

    return sources_for
