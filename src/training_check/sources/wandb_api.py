"""Read a W&B run's new metric rows through the real SDK (`wandb.Api`), a step range at a time.

A fetch loads the run (state, heartbeat, history keys and last step: one `Run` query),
then scans only the steps after the cursor with `run.scan_history(keys=..., min_step=...)`.
A keyed scan returns only rows holding *all* its keys, so keys are scanned in groups of
keys logged equally often (the training keys together, the eval keys together): few
scans, and no key hides another's rows. The sampled `run.history()` is never used: it can
drop the one row with the NaN.

The SDK plumbing (bounded retries, the `wandb.Api` factory, the deadline on each fetch,
the translation of failures) is in `wandb_sdk`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import numpy as np

from training_check.model import History
from training_check.sources.errors import SourceError
from training_check.sources.interface import Cursor, Fetched, RunState
from training_check.sources.rows import HistoryBuilder
from training_check.sources.tabular import KEPT_PRIVATE_KEYS
from training_check.sources.values import parse_number, parse_step, snippet
from training_check.sources.wandb_sdk import (
    DEADLINE_S,
    ApiFactory,
    api_factory,
    bound_sdk_retries,
    describe_failure,
    with_deadline,
)

# `api_factory` is re-exported for benchmarks/sources.py, which imports it from here.
__all__ = ["PAGE_SIZE", "WandbApiSource", "api_factory", "key_groups", "parse_time"]

PAGE_SIZE = 1000  # steps per history page: the SDK's default, within the backend's limits

_STATES = {  # W&B's run states; "pending" (not started yet) stays unknown
    "running": RunState.RUNNING,
    "preempting": RunState.RUNNING,
    "finished": RunState.FINISHED,
    "crashed": RunState.CRASHED,
    "preempted": RunState.CRASHED,
    "failed": RunState.FAILED,
    "killed": RunState.FAILED,
}


class WandbApiSource:
    """A W&B run read through the public API; `path` is "entity/project/run_id"."""

    name = "wandb"

    def __init__(
        self,
        path: str,
        api_factory: ApiFactory,
        deadline: float = DEADLINE_S,
        page_size: int = PAGE_SIZE,
    ) -> None:
        parts = path.strip().strip("/").split("/")
        if len(parts) != 3 or not all(parts):
            raise SourceError(
                f"W&B run path {path!r} is not entity/project/run_id",
                "copy it from the run's Overview page, e.g. my-team/my-project/abc123",
            )
        self.path = "/".join(parts)
        self.deadline = deadline
        self.page_size = page_size
        self._factory = api_factory
        self._run: Any = None  # kept between fetches: a reload is one query, a new Api two

    def fetch(self, cursor: Cursor | None) -> Fetched:
        """The rows after `cursor`; `SourceUnreachable`/`SourceError` when W&B fails."""
        started = time.monotonic()
        try:
            pulse = _Pulse()
            return with_deadline(self.deadline, lambda: self._fetch(cursor, pulse), pulse.progress)
        except SourceError:
            self._run = None  # a run object from a failed fetch may be in any state
            raise
        except Exception as error:
            self._run = None
            raise describe_failure(error, self.path, time.monotonic() - started) from None

    def _fetch(self, cursor: Cursor | None, pulse: _Pulse) -> Fetched:
        run = self._load()
        keys = run.history_keys or {}
        last = int(keys.get("lastStep", -1))
        previous = cursor.last_step if cursor else None
        reset = previous is not None and last < previous  # rewound, or a new run of that id
        start = 0 if reset or previous is None else previous + 1
        history = History({})
        if start <= last:
            history = _Scan(run, start, last, self.page_size, pulse).history(key_groups(keys))
        return Fetched(
            new=history,
            cursor=Cursor(last_step=last if last >= 0 else previous),
            reset=reset,
            state=_STATES.get(str(run.state), RunState.UNKNOWN),
            heartbeat=parse_time(run.heartbeat_at) or parse_time(run.created_at),
            notes=_notes(str(run.state), reset, previous, last),
        )

    def _load(self) -> Any:
        bound_sdk_retries()  # before the factory builds its Api
        if self._run is None:
            self._run = self._factory().run(self.path)
        else:
            self._run.load(force=True)
        return self._run


def key_groups(history_keys: Mapping[str, Any]) -> list[list[str]]:
    """The numeric history keys, grouped by how many values each has (most first).

    Keys logged together have equal counts, so each group is one keyed scan. Keys
    starting with "_" are W&B's bookkeeping (`_step` comes with every row anyway); the
    two that say when rows arrived are in every row, so they ride along with the first
    group without costing a scan of their own.
    """
    keys = history_keys.get("keys") or {}
    by_count: dict[int, list[str]] = {}
    for key, info in keys.items():
        kinds = info.get("typeCounts") if isinstance(info, Mapping) else None
        if not key.startswith("_") and any(kind.get("type") == "number" for kind in kinds or []):
            by_count.setdefault(_count(info), []).append(key)  # not media, not text
    groups = [sorted(group) for _, group in sorted(by_count.items(), reverse=True)]
    if groups:
        groups[0] += sorted(KEPT_PRIVATE_KEYS.intersection(keys))
    return groups


class _Pulse:
    """Signs that a fetch is getting answers, for the deadline: rows read, pages asked for."""

    def __init__(self) -> None:
        self.rows = 0
        self.scan: Any = None  # the `HistoryScan` being read; its `page_offset` moves per page

    def progress(self) -> object:
        return self.rows, getattr(self.scan, "page_offset", None)


class _Scan:
    """Keyed scans of steps [start, last], merged into one `History`.

    Each scan fills a builder of its own (16 bytes a value): merging rows by step in
    dicts first would cost ten times the memory on a long run.
    """

    def __init__(self, run: Any, start: int, last: int, page_size: int, pulse: _Pulse) -> None:
        self.run, self.start, self.last, self.page_size, self.pulse = run, start, last, page_size, pulse

    def history(self, groups: list[list[str]]) -> History:
        """Every group's values; a group whose keys turn out not to go together, key by key."""
        counts = self.run.history_keys.get("keys") or {}
        parts: list[History] = []
        for group in groups:
            got, part = self.group(group)
            expected = min(_count(counts.get(key)) for key in group if not key.startswith("_"))
            # On a full read all of a key's values arrive; a short scan means the group's
            # keys were not logged together (same counts by chance), so read them apart.
            if self.start == 0 and len(group) > 1 and got < expected:
                parts.extend(self.group([key])[1] for key in group)
            else:
                parts.append(part)
        return _merge(parts)

    def group(self, keys: list[str]) -> tuple[int, History]:
        """One keyed scan: the number of rows it returned, and their values."""
        builder = HistoryBuilder("row")
        count = 0
        scan: Iterable[Mapping[str, Any]] = self.run.scan_history(
            keys=keys, min_step=self.start, max_step=self.last + 1, page_size=self.page_size
        )
        self.pulse.scan = scan
        for row in scan:
            count += 1
            self.pulse.rows += 1
            step = parse_step(row.get("_step"))
            if step is None:
                builder.skip("no whole `_step`", snippet(repr(row.get("_step"))))
                continue
            metrics = {}
            for key in keys:
                number = parse_number(row.get(key))
                if number is None:
                    builder.where = f"step {step}"
                    builder.note(f"{key} is not a number", snippet(repr(row.get(key))))
                else:
                    metrics[key] = number
            builder.add(step, metrics)
        return count, builder.build()


def _merge(parts: list[History]) -> History:
    """One history of scans of different keys; a row is a step any of them had."""
    series = {name: values for part in parts for name, values in part.series.items()}
    steps = [values.steps for values in series.values()]
    rows = int(np.unique(np.concatenate(steps)).size) if steps else 0
    reasons = tuple(dict.fromkeys(reason for part in parts for reason in part.skip_reasons))
    return History(series, rows, sum(part.rows_skipped for part in parts), reasons)


def _count(info: Any) -> int:
    """How many values a `historyKeys` entry counts (nulls are not values)."""
    counts = info.get("typeCounts") if isinstance(info, Mapping) else None
    return sum(int(c.get("count", 0)) for c in counts or [] if c.get("type") != "nil")


def parse_time(value: object) -> float | None:
    """Epoch seconds of a W&B timestamp ("2024-05-01T12:00:00", UTC when no zone is given)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = moment.timestamp()
    return seconds if math.isfinite(seconds) else None


def _notes(state: str, reset: bool, previous: int | None, last: int) -> dict[str, str]:
    notes = {} if state in ("running", "finished", "crashed", "failed") else {"wandb_state": state}
    if reset:
        notes["reset"] = f"the run's last step went back from {previous} to {last}: read again"
    return notes
