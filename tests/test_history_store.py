"""The history kept between cycles: merging new rows and surviving a lost or damaged cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from support.histories import series
from training_check.history_store import HistoryStore, merge
from training_check.model import History
from training_check.sources.interface import Cursor


def test_merge_appends_new_rows_and_the_new_value_wins() -> None:
    old = History({"loss": series(np.array([3.0, 2.0, 1.5])), "lr": series(np.array([0.1, 0.1, 0.1]))}, 3, 1, ("a",))
    new = History(
        {"loss": series(np.array([9.0, 1.2, np.nan]), start=2), "eval": series(np.array([2.0]))}, 3, 0, ("b",)
    )
    merged = merge(old, new)
    assert merged.series["loss"].steps.tolist() == [0, 1, 2, 3, 4]
    assert merged.series["loss"].values[:4].tolist() == [3.0, 2.0, 9.0, 1.2]
    assert np.isnan(merged.series["loss"].values[4])
    assert merged.series["lr"].values.tolist() == [0.1] * 3
    assert merged.series["eval"].values.tolist() == [2.0]
    assert (merged.rows_read, merged.rows_skipped, merged.skip_reasons) == (6, 1, ("a", "b"))


def test_merge_of_later_rows_is_a_plain_append() -> None:
    old = History({"loss": series(np.arange(5.0))})
    new = History({"loss": series(np.arange(5.0, 8.0), start=5)})
    assert merge(old, new).series["loss"].values.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


def test_store_round_trip_and_damage(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "cache")
    assert store.load("run/a", "wandb") == (History({}), None)
    history = History({"train/loss": series(np.array([2.0, np.inf, np.nan]))})
    store.save("run/a", "wandb", history, Cursor(last_step=2, offset=0, identity=""))
    loaded, cursor = store.load("run/a", "wandb")
    assert cursor == Cursor(last_step=2)
    values = loaded.series["train/loss"].values
    assert values[0] == 2.0 and np.isinf(values[1]) and np.isnan(values[2])
    assert store.load("run/a", "sftp") == (History({}), None)  # per source
    path = store.path("run/a", "wandb")
    assert path is not None and path.parent == tmp_path / "cache" and "/" not in path.name
    path.write_bytes(b"not a zip file")
    assert store.load("run/a", "wandb") == (History({}), None)


def test_no_folder_keeps_nothing() -> None:
    store = HistoryStore(None)
    store.save("a", "local", History({"x": series(np.ones(3))}), Cursor(offset=10))
    assert store.load("a", "local") == (History({}), None)
