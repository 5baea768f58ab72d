"""Decode many history records of a `.wandb` log at once, by columns.

`WandbFileParser` (in `wandb_file`) hands the payloads of the history records it read to
`ItemTable.of`; the rows holding plain numbers only are decoded in bulk and added with
`HistoryBuilder.add_columns`, and the parser adds the other rows one by one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory  # type: ignore[import-untyped]
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from training_check.model import ValueArray
from training_check.sources.rows import Column, HistoryBuilder, IndexArray
from training_check.sources.tabular import KEPT_PRIVATE_KEYS
from training_check.sources.values import MAX_STEP


def _batch_class() -> Any:
    """A message class that reads many history records' items as two flat string lists.

    Protobuf parsers concatenate repeated fields and merge repeated occurrences of a
    singular message field. `Batch` is `Record` with only `history`, whose `item` is declared
    singular: so concatenated Records parse into one `item` holding every `nested_key` and
    every `value_json`, in order, each in one list: a few C calls for a whole read instead
    of Python objects for each item, which halves the time of a read.
    """
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="training_check/wandb_batch.proto", syntax="proto3")
    proto.package = "training_check.wandb_batch"
    items = proto.message_type.add(name="Items")  # wandb_internal.HistoryItem
    for name, number in (("key", 1), ("nested_key", 2), ("value_json", 16)):
        items.field.add(name=name, number=number, type=field.TYPE_STRING, label=field.LABEL_REPEATED)
    history = proto.message_type.add(name="History")  # wandb_internal.HistoryRecord
    history.field.add(name="item", number=1, type=field.TYPE_MESSAGE, type_name="Items")
    batch = proto.message_type.add(name="Batch")  # wandb_internal.Record
    batch.field.add(name="history", number=2, type=field.TYPE_MESSAGE, type_name="History")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{proto.package}.Batch"))


_Batch = _batch_class()
# Put after each record of a batch: an item no SDK writes, marking where each row ends.
_END = "\x00"
_MIN_COLUMNS = 16  # a run of fewer plain rows is added row by row
_END_OF_ROW = _Batch(history={"item": {"nested_key": [_END], "value_json": [_END]}}).SerializeToString()


class ItemTable:
    """The keys and the values of the items of many history records, in two lists."""

    def __init__(self, keys: list[str], values: list[str], count: int) -> None:
        self.keys, self.values, self.count = keys, values, count

    @classmethod
    def of(cls, records: list[bytes]) -> ItemTable | None:
        """The table of `records`, or None when they do not fit in one."""
        try:
            items = _Batch.FromString(_END_OF_ROW.join(records) + _END_OF_ROW).history.item
        except DecodeError:
            return None
        keys, values = items.nested_key[:], items.value_json[:]
        # A key named like the marker would cut a row in two; keys in `key` are elsewhere.
        if items.key or keys.count(_END) != len(records) or values.count(_END) != len(records):
            return None
        return cls(keys, values, len(records))

    def plain(self) -> _PlainRows:
        """The rows that hold plain numbers only, decoded by columns."""
        return _PlainRows(self.keys, self.values, self.count)


class _PlainRows:
    """The rows of an `ItemTable` decoded by columns: those whose items are plain numbers.

    A row is plain when each of its items is a one-part key with a number, one of them
    `_step` with a step `add` would take, and no metric comes twice. Runs of plain rows go
    to `HistoryBuilder.add_columns`; the other rows are left to the general way.
    """

    def __init__(self, keys: list[str], values: list[str], count: int) -> None:
        names = list(dict.fromkeys(keys))  # in order of first appearance
        code = {name: number for number, name in enumerate(names)}
        codes = np.fromiter(map(code.__getitem__, keys), np.intp, len(keys))
        ends, value_ends = np.flatnonzero(codes == code[_END]), _ends(values, count)
        sizes = np.diff(ends, prepend=-1)  # each row's keys, its end marker included
        row_of = np.repeat(np.arange(count), sizes)
        # Where each key's value is: right in rows with as many values as keys; the others
        # are not plain (a key in several parts, a value in typed form only).
        at = np.clip(np.arange(len(keys)) - np.repeat(ends - value_ends, sizes), 0, len(values) - 1)
        numbers, parsed = _floats(values, value_ends)
        self.cells = numbers[at]
        plain = (sizes == np.diff(value_ends, prepend=-1)) & ~_rows_with(row_of, ~parsed[at], count)
        is_step = codes == code.get("_step", -1)
        steps = np.full(count, np.nan)
        steps[row_of[is_step]] = self.cells[is_step]
        # Below MAX_STEP (2**53) a step is exact as a float: a bigger one may have been rounded.
        plain &= (np.bincount(row_of[is_step], minlength=count) == 1) & (steps >= 0) & (steps < MAX_STEP)
        plain &= steps == np.floor(steps)
        self.is_metric = np.array([is_metric_key(name) and name != _END for name in names])[codes]
        self.metrics, twice = _by_metric(names, codes, row_of, self.is_metric)
        self.plain = plain & ~_rows_with(row_of, twice, count)
        self.steps, self.count = np.where(self.plain, steps, 0).astype(np.int64), count
        self.keys, self.ends = keys, ends
        self.lists: tuple[list[float], list[bool], list[int], list[int]] | None = None

    def runs(self) -> Iterator[tuple[int, int, bool]]:
        """(first row, row after the last, plain) of each run of rows plain or not."""
        starts = [0, *(np.flatnonzero(np.diff(self.plain)) + 1).tolist()]
        for start, end in zip(starts, [*starts[1:], self.count], strict=True):
            yield start, end, bool(self.plain[start])

    def add(self, start: int, end: int, builder: HistoryBuilder) -> float:
        """Add the rows from `start` to `end`, all plain; the last `_timestamp` among them."""
        if end - start < _MIN_COLUMNS:
            return self._add_rows(start, end, builder)
        found: list[tuple[int, str, Column]] = []
        for name, keys, rows in self.metrics:
            lo, hi = np.searchsorted(rows, (start, end)).tolist()
            if lo < hi:
                found.append((int(keys[lo]), name, (rows[lo:hi] - start, self.cells[keys[lo:hi]])))
        found.sort(key=lambda metric: metric[0])  # in order of first appearance, as `add` makes them
        columns = {name: column for _, name, column in found}
        builder.add_columns(self.steps[start:end], columns)
        stamps = columns.get("_timestamp")
        return float(stamps[1][-1]) if stamps else 0.0

    def _add_rows(self, start: int, end: int, builder: HistoryBuilder) -> float:
        """`add` for a few rows: one by one, from lists, which costs less than columns then."""
        if self.lists is None:
            self.lists = (self.cells.tolist(), self.is_metric.tolist(), self.ends.tolist(), self.steps.tolist())
        cells, is_metric, ends, steps = self.lists
        stamp = 0.0
        for row in range(start, end):
            lo, hi = ends[row - 1] + 1 if row else 0, ends[row]
            metrics = {k: v for k, v, use in zip(self.keys[lo:hi], cells[lo:hi], is_metric[lo:hi], strict=True) if use}
            builder.add(steps[row], metrics)
            stamp = metrics.get("_timestamp", stamp)
        return stamp


def _by_metric(
    names: list[str], codes: IndexArray, row_of: IndexArray, is_metric: npt.NDArray[np.bool_]
) -> tuple[list[tuple[str, IndexArray, IndexArray]], npt.NDArray[np.bool_]]:
    """(name, its keys, their rows) of each metric, its keys in file order; which keys repeat
    a metric in its row."""
    keys = np.flatnonzero(is_metric)
    keys = keys[np.argsort(codes[keys].astype(np.uint16 if len(names) <= 1 << 16 else np.intp), kind="stable")]
    key_codes, rows = codes[keys], row_of[keys]
    twice = np.zeros(codes.size, dtype=bool)
    twice[keys[1:]] = (rows[1:] == rows[:-1]) & (key_codes[1:] == key_codes[:-1])
    starts = np.flatnonzero(np.diff(key_codes, prepend=-1)).tolist()
    metrics = [
        (names[key_codes[lo]], keys[lo:hi], rows[lo:hi])
        for lo, hi in zip(starts, [*starts[1:], keys.size], strict=True)
    ]
    return metrics, twice


def _ends(values: list[str], count: int) -> IndexArray:
    """Where the `count` end markers in `values` are."""
    ends: list[int] = []
    at = -1
    for _ in range(count):
        at = values.index(_END, at + 1)
        ends.append(at)
    return np.array(ends, dtype=np.intp)


def _floats(values: list[str], markers: IndexArray) -> tuple[ValueArray, npt.NDArray[np.bool_]]:
    """`values` as numbers (NaN where not one, 0 at the `markers`) and which are numbers."""
    texts = values.copy()
    for at in markers.tolist():
        texts[at] = "0"
    numbers: list[float] = []
    failed: list[int] = []
    rest = iter(texts)
    while len(numbers) < len(texts):
        try:
            numbers.extend(map(float, rest))  # keeps what it took when a value fails
        except ValueError:  # text, a list, a number in a JSON string: go on after it
            failed.append(len(numbers))
            numbers.append(math.nan)
    parsed = np.ones(len(texts), dtype=bool)
    parsed[failed] = False
    return np.array(numbers, dtype=np.float64), parsed


def _rows_with(rows: IndexArray, flags: npt.NDArray[np.bool_], count: int) -> npt.NDArray[np.bool_]:
    """Which of `count` rows have a flag set, `rows` giving the row of each flag."""
    return np.bincount(rows[flags], minlength=count) > 0


def is_metric_key(key: str) -> bool:
    """W&B's bookkeeping keys start with "_": all but two are left out, as for JSON lines."""
    return key[:1] != "_" or key in KEPT_PRIVATE_KEYS
