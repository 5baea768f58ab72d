"""Each run's history kept between cycles, so a check transfers only the new rows.

One `.npz` file per run and source (numpy arrays, no pickle) with the cursor the source
returned. A missing or unreadable file simply means "read from the start": the cache
can be lost at any time (a fresh CI runner, an evicted cache) without losing anything
but time.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .atomic import write_atomic_bytes
from .model import History, Series
from .sources.interface import Cursor

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def merge(old: History, new: History) -> History:
    """The old history extended by the new rows; a step present in both takes the new value."""
    series = dict(old.series)
    for name, fresh in new.series.items():
        before = series.get(name)
        if before is None or not len(before):
            series[name] = fresh
            continue
        keep = before.steps < (fresh.steps[0] if len(fresh) else np.iinfo(np.int64).max)
        if bool(keep.all()):  # the usual case: new rows come after the old ones
            series[name] = Series(
                np.concatenate([before.steps, fresh.steps]), np.concatenate([before.values, fresh.values])
            )
            continue
        steps = np.concatenate([before.steps, fresh.steps])
        values = np.concatenate([before.values, fresh.values])
        # np.unique keeps the first of equal steps: put the new rows first.
        order = np.concatenate([np.arange(len(before), len(steps)), np.arange(len(before))])
        unique_steps, first = np.unique(steps[order], return_index=True)
        series[name] = Series(unique_steps, values[order][first])
    return History(
        series,
        old.rows_read + new.rows_read,
        old.rows_skipped + new.rows_skipped,
        tuple(dict.fromkeys((*old.skip_reasons, *new.skip_reasons)))[-10:],
    )


class HistoryStore:
    """Histories and cursors on disk under `folder` (None: keep nothing, read all each time)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def path(self, run: str, source: str) -> Path | None:
        """The file of one run's history from one source."""
        if self.folder is None:
            return None
        key = f"{run}.{source}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        return self.folder / f"{_UNSAFE.sub('_', key)[:60]}-{digest}.npz"

    def load(self, run: str, source: str) -> tuple[History, Cursor | None]:
        """The stored history and cursor, or an empty history and None."""
        path = self.path(run, source)
        if path is None or not path.exists():
            return History({}), None
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                series = {
                    name: Series(data[f"s{i}"].astype(np.int64), data[f"v{i}"].astype(np.float64))
                    for i, name in enumerate(meta["names"])
                }
                cursor = Cursor(**meta["cursor"])
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
            return History({}), None  # a damaged cache costs one full read, nothing more
        return History(series), cursor

    def save(self, run: str, source: str, history: History, cursor: Cursor) -> None:
        """Replace the stored history and cursor of a run (atomically)."""
        path = self.path(run, source)
        if path is None:
            return
        names = list(history.series)
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps({"names": names, "cursor": asdict(cursor)}))}
        for i, name in enumerate(names):
            arrays[f"s{i}"] = history.series[name].steps
            arrays[f"v{i}"] = history.series[name].values
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        write_atomic_bytes(path, buffer.getvalue())
