"""Read the metrics of a W&B offline run from its transaction log (`run-*.wandb`).

The framing (header, blocks, chunks) is in `wandb_log`, the batched decoding of plain
numeric rows in `wandb_batch`. Here each record is a `wandb_internal_pb2.Record`: a history
row has its step in `history.step.num` (the core also adds an `_step` item with the same
value) and each value as JSON text in `item.value_json` under `item.nested_key` (one part
per level of a nested dict): `0.5`, `NaN`, `Infinity`, `"text"`, `[1, 2]`. The run, stats
and exit records say when the run started, that it is alive and how it ended.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any, BinaryIO

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

from training_check.model import History
from training_check.sources.errors import SourceError
from training_check.sources.rows import HistoryBuilder
from training_check.sources.values import parse_number, parse_step
from training_check.sources.wandb_batch import ItemTable, is_metric_key
from training_check.sources.wandb_log import FILE_HEADER, READ_SIZE, ChunkWalk, header_state, read_up_to

INCOMPLETE = "incomplete last record (still being written?)"
_HISTORY_TAG = 2 << 3 | 2  # Record.history


@dataclass
class WandbFileInfo:
    """What the run says of itself in its log, as read so far."""

    run_id: str | None = None
    start_time: float | None = None  # epoch seconds, from the run record
    exited: bool = False  # an exit record was written: the run ended (cleanly or not)
    exit_code: int | None = None
    heartbeat: float | None = None  # epoch seconds of the latest history row or system stats


class WandbFileParser:
    """Incremental reader of a `.wandb` log: `parse` adds the rows after a byte offset.

    `info` gathers what the run, stats and exit records said, across calls. `name` (the
    path) names the file in errors. With `batched` False every row is decoded on its own:
    slower, and the tests compare both ways.
    """

    def __init__(self, name: str = "W&B log", batched: bool = True) -> None:
        self.name = name
        self.batched = batched
        self.info = WandbFileInfo()

    def parse(self, stream: BinaryIO, start: int, builder: HistoryBuilder) -> int:
        """Add the history rows of the complete records from `start`; the offset after them.

        `start` is 0 or an offset an earlier call returned. A torn last record (the SDK is
        still writing it) is left for the next call; a complete record whose checksum is
        wrong is skipped and counted on `builder`.
        """
        if start == 0:
            state = header_state(stream)
            if state is None:
                return 0
            if not state:
                tip = "expected the run-*.wandb file of an offline run (wandb/offline-run-*/)"
                raise SourceError(f"{self.name}: not a W&B offline log (.wandb): bad header", tip)
            start = len(FILE_HEADER)
        elif start < len(FILE_HEADER):
            raise ValueError(f"start {start} is inside the file header")
        stream.seek(start)
        walk = ChunkWalk(start, partial(_count, builder))
        while True:
            want = READ_SIZE - walk.pos % READ_SIZE
            data = read_up_to(stream, want)
            walk.feed(data, final=len(data) < want)
            self._use(walk.records, builder)
            walk.records = []
            if len(data) < want:
                return walk.committed

    def _use(self, records: list[tuple[bytes, int, int]], builder: HistoryBuilder) -> None:
        """Add the history rows in file order, most decoded in one go; note the rest."""
        rows = [(payload, at) for payload, at, tag in records if tag == _HISTORY_TAG]
        table = ItemTable.of([payload for payload, _ in rows]) if self.batched and rows else None
        plain = table.plain() if table else None
        for start, end, good in plain.runs() if plain else [(0, len(rows), False)]:
            if plain and good:
                self._beat(plain.add(start, end, builder))
                continue
            for payload, at in rows[start:end]:  # not plain numbers: the general way
                if record := _parse_record(payload, at, builder):
                    self._history(record.history, at, builder)
        for payload, at, tag in records:
            if tag != _HISTORY_TAG and (record := _parse_record(payload, at, builder)):
                self._note(record, at, builder)

    def _note(self, record: Any, at: int, builder: HistoryBuilder) -> None:
        """Take what the run, stats and exit records say (and a history row found late)."""
        kind = record.WhichOneof("record_type")
        if kind == "history":  # a writer that put another field before the type field
            self._history(record.history, at, builder)
        elif kind == "stats":
            self._beat(record.stats.timestamp.seconds + record.stats.timestamp.nanos / 1e9)
        elif kind == "run" and self.info.run_id is None:
            start = record.run.start_time
            self.info.run_id = record.run.run_id
            self.info.start_time = start.seconds + start.nanos / 1e9 if start.seconds else None
        elif kind == "exit":
            self.info.exited = True
            self.info.exit_code = record.exit.exit_code

    def _history(self, history: Any, at: int, builder: HistoryBuilder) -> None:
        """Add one history row, whatever its items hold."""
        metrics: dict[str, float] = {}
        nested: list[tuple[tuple[str, ...], Any]] = []
        step_text: str | None = None
        for item in history.item:
            path = tuple(item.nested_key) or (item.key,)
            if len(path) > 1:
                nested.append((path, item))
            elif path[0] == "_step":
                step_text = item.value_json
            elif is_metric_key(path[0]) and (value := _value(item)) is not None:
                metrics[path[0]] = value
        _add_nested(nested, metrics)
        step = history.step.num if history.HasField("step") else _step_of(step_text)
        builder.where = f"byte {at}"
        if "_timestamp" in metrics:
            self._beat(metrics["_timestamp"])
        builder.add(step, metrics)

    def _beat(self, when: float) -> None:
        if when > 0 and (self.info.heartbeat is None or when > self.info.heartbeat):
            self.info.heartbeat = when


@cache
def _record_class() -> Any:
    """wandb's `Record`, imported on first use: importing wandb takes a third of a second."""
    return importlib.import_module("wandb.proto.wandb_internal_pb2").Record


def _parse_record(payload: bytes, at: int, builder: HistoryBuilder) -> Any:
    record = _record_class()()
    try:
        record.ParseFromString(payload)
    except DecodeError:
        _count(builder, at, "not a W&B record (bad protobuf)")
        return None
    return record


def _value(item: Any) -> float | None:
    text = item.value_json
    if text[:1] == '"':  # a JSON string may hold a number ("1.5", "nan"), as in JSON lines
        return _json_number(text)
    if text:
        return parse_number(text)  # JSON numbers, NaN, ±Infinity; not lists, dicts, true, null
    kind = item.WhichOneof("value")  # written in typed form only
    if kind == "json":
        return _json_number(item.json)
    return parse_number(getattr(item, kind)) if kind in ("number", "integer", "text") else None


def _json_number(text: str) -> float | None:
    try:
        return parse_number(json.loads(text))
    except (ValueError, RecursionError):  # not JSON after all: not a metric either
        return None


def _add_nested(items: list[tuple[tuple[str, ...], Any]], metrics: dict[str, float]) -> None:
    """Nested dicts become "a.b" keys, as W&B shows them; media objects are left out.

    A histogram, an image or a table is logged as a dict with a `_type`, flattened into
    items such as h._type, h.bins, h.values; nothing under such a dict is a metric.
    """
    media = {path[:-1] for path, _ in items if path[-1] == "_type"}
    for path, item in items:
        if any(path[:n] in media for n in range(1, len(path))) or not is_metric_key(path[0]):
            continue
        value = _value(item)
        if value is not None:
            metrics[".".join(path)] = value


def _step_of(text: str | None) -> int | None:
    return None if text is None else parse_step(parse_number(text))


def _count(builder: HistoryBuilder, at: int, reason: str) -> None:
    builder.where = f"byte {at}"
    builder.skip(reason)


def read_wandb_history(path: str | Path) -> History:
    """Read a whole local `.wandb` file (a torn last record is counted as skipped)."""
    path = Path(path)
    builder = HistoryBuilder(unit="record")
    try:
        with path.open("rb") as file:
            end = WandbFileParser(str(path)).parse(file, 0, builder)
            size = file.seek(0, 2)
    except OSError as error:
        raise SourceError(f"{path}: cannot read ({error.strerror or error})", "check the path") from error
    if size == 0:
        raise SourceError(f"{path} is empty", "the run may not have logged anything yet")
    if end < size:
        _count(builder, end, INCOMPLETE)
    if builder.rows_read == 0:
        tip = "the run may not have logged a metric yet; try again later"
        raise SourceError(f"{path}: no history rows in the W&B log", tip)
    return builder.build()
