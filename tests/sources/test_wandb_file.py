"""The `.wandb` reader on files the real wandb SDK wrote, then on damaged and odd ones.

tests/data/wandb holds two committed runs; the SDK also writes fresh ones here (a
subprocess running tests/data/wandb/make_fixtures.py), one of them read while it is being
written. `planned_rows` says what each run logged, so every value is checked exactly.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import os
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np
import pytest

from training_check.model import History
from training_check.sources import SourceError, read_history
from training_check.sources.rows import HistoryBuilder
from training_check.sources.wandb_file import INCOMPLETE, WandbFileParser, read_wandb_history
from training_check.sources.wandb_log import BLOCK, CORRUPT, FILE_HEADER

pb: Any = importlib.import_module("wandb.proto.wandb_internal_pb2")  # built at import: no static types
HERE = Path(__file__).resolve().parents[1] / "data" / "wandb"
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
ROOT = Path(__file__).resolve().parents[2]


def _load_make_fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wandb_make_fixtures", HERE / "make_fixtures.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


make_fixtures = _load_make_fixtures()


# --- helpers --------------------------------------------------------------------------


def expected(name: str) -> dict[str, tuple[list[int], list[float]]]:
    """The series a run's log must give: its numbers, nested dicts as "a.b", no media."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for step, row in make_fixtures.planned_rows(name):
        flat = {**row, **{f"optim.{k}": v for k, v in row.get("optim", {}).items()}}
        for key, value in flat.items():
            if isinstance(value, float):
                out.setdefault(key, ([], []))[0].append(step)
                out[key][1].append(value)
    return out


def same(actual: list[float], wanted: list[float]) -> bool:
    """Equal lists, NaN equal to NaN."""
    return len(actual) == len(wanted) and all(
        a == w or (math.isnan(a) and math.isnan(w)) for a, w in zip(actual, wanted, strict=True)
    )


def check_logged(history: History, name: str) -> None:
    """`history` holds exactly what run `name` logged, plus W&B's _timestamp and _runtime."""
    want = expected(name)
    assert set(history.series) == {*want, "_timestamp", "_runtime"}
    for key, (steps, values) in want.items():
        assert history.series[key].steps.tolist() == steps, key
        assert same(history.series[key].values.tolist(), values), key
    rows = len(list(make_fixtures.planned_rows(name)))
    assert len(history.series["_timestamp"]) == len(history.series["_runtime"]) == rows
    assert np.all(np.diff(history.series["_timestamp"].values) >= 0)


def parse(data: bytes, start: int = 0, parser: WandbFileParser | None = None) -> tuple[int, HistoryBuilder]:
    builder = HistoryBuilder("record")
    end = (parser or WandbFileParser()).parse(io.BytesIO(data), start, builder)
    return end, builder


def chunks(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(offset, total length, type) of each chunk: a walk of our own, to aim damage with."""
    at = len(FILE_HEADER)
    while at + 7 <= len(data):
        room = BLOCK - at % BLOCK
        if room < 7:
            at += room
            continue
        _, length, kind = struct.unpack_from("<IHB", data, at)
        yield at, 7 + length, kind
        at += 7 + length


def record_kind(data: bytes, at: int) -> str:
    """The record type of the chunk at `at`, if it is a whole record (FULL)."""
    _, length, kind = struct.unpack_from("<IHB", data, at)
    if kind != FULL:
        return "fragment"
    return str(pb.Record.FromString(data[at + 7 : at + 7 + length]).WhichOneof("record_type"))


def frame(records: list[Any]) -> bytes:
    """A .wandb file of these records (pb.Record or raw bytes), framed as wandb-core does."""
    out = bytearray(FILE_HEADER)
    for record in records:
        payload = record if isinstance(record, bytes) else record.SerializeToString()
        first = True
        while first or payload:
            room = BLOCK - len(out) % BLOCK
            if room < 7:
                out += bytes(room)
                continue
            part, payload = payload[: room - 7], payload[room - 7 :]
            kind = (FULL if not payload else FIRST) if first else (LAST if not payload else MIDDLE)
            out += struct.pack("<IHB", zlib.crc32(bytes([kind]) + part), len(part), kind) + part
            first = False
    return bytes(out)


def row(step: int | None, **values: str) -> Any:
    """A history record as wandb-core writes it: values as JSON text, `_step` as an item too."""
    items = [pb.HistoryItem(nested_key=[k], value_json=v) for k, v in values.items()]
    history = pb.HistoryRecord(item=items)
    if step is not None:
        history.step.num = step
        history.item.add(nested_key=["_step"], value_json=str(step))
    return pb.Record(history=history)


def sdk_run(name: str, out: Path, pause: float = 0.0) -> subprocess.Popen[bytes]:
    """Start the SDK writing run `name` under `out`/wandb/; NAME.wandb is a copy at the end."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(out)}
    command = [sys.executable, str(HERE / "make_fixtures.py"), "--run", name, "--out", str(out)]
    options = ["--pause", str(pause), "--wandb-dir", str(out)]
    return subprocess.Popen([*command, *options], env=env, stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh SDK run with one record over three blocks (FIRST, MIDDLE, LAST)."""
    out = tmp_path_factory.mktemp("big")
    assert sdk_run("big", out).wait(timeout=120) == 0
    return out / "big.wandb"


# --- files the SDK wrote ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["healthy", "diverged"])
def test_the_committed_runs_give_exactly_what_was_logged(name: str) -> None:
    history = read_wandb_history(HERE / f"{name}.wandb")
    check_logged(history, name)
    assert (history.rows_read, history.rows_skipped, history.skip_reasons) == (len(expected(name)["lr"][0]), 0, ())


def test_a_diverged_run_reads_as_infinity_then_nan() -> None:
    history = read_wandb_history(HERE / "diverged.wandb")
    loss = history.series["train/loss"].values
    assert np.isinf(loss).any() and np.isnan(loss).any()
    assert int(np.argmax(np.isinf(loss))) < int(np.argmax(np.isnan(loss)))  # Infinity first, then NaN
    assert -math.inf in history.series["eval/min_error"].values.tolist()


def test_what_is_not_a_number_is_left_out_and_nested_dicts_flattened() -> None:
    history = read_wandb_history(HERE / "healthy.wandb")
    assert history.series["optim.momentum"].steps.tolist() == [0, 1000, 2000, 3000]
    assert not any(key.startswith(("weights", "phase", "_step", "_wandb")) for key in history.series)


def test_the_run_says_when_it_started_that_it_ended_and_how() -> None:
    for name, code in (("healthy", 0), ("diverged", 1)):
        parser = WandbFileParser()
        with (HERE / f"{name}.wandb").open("rb") as file:
            parser.parse(file, 0, HistoryBuilder())
        info = parser.info
        assert info.run_id and len(info.run_id) == 8
        assert (info.exited, info.exit_code) == (True, code)
        assert info.start_time and info.heartbeat and info.start_time <= info.heartbeat < info.start_time + 600


def test_batched_and_one_by_one_decoding_agree(big_run: Path) -> None:
    for path in (HERE / "healthy.wandb", HERE / "diverged.wandb", big_run):
        data = path.read_bytes()
        fast = parse(data)[1].build()
        slow = parse(data, parser=WandbFileParser(batched=False))[1].build()
        assert fast.series.keys() == slow.series.keys()
        for key, series in fast.series.items():
            assert series.steps.tolist() == slow.series[key].steps.tolist()
            assert same(series.values.tolist(), slow.series[key].values.tolist())


def count_slow_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The steps of the rows decoded one by one (the general way), as they come."""
    slow: list[int] = []
    general = WandbFileParser._history

    def counted(self: WandbFileParser, history: Any, at: int, builder: HistoryBuilder) -> None:
        slow.append(history.step.num)
        general(self, history, at, builder)

    monkeypatch.setattr(WandbFileParser, "_history", counted)
    return slow


def test_only_rows_that_are_not_plain_numbers_take_the_slow_way(monkeypatch: pytest.MonkeyPatch) -> None:
    slow = count_slow_rows(monkeypatch)
    parse((HERE / "healthy.wandb").read_bytes())
    assert slow == [0, 1000, 2000, 3000]  # the rows with a histogram, a text and a nested dict
    slow.clear()
    parse((HERE / "diverged.wandb").read_bytes())
    assert slow == []  # NaN and Infinity are numbers


def test_odd_rows_in_a_batch_leave_the_rows_around_them_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    records = [row(s, loss=str(s / 10)) for s in range(30)]
    records[10].history.item.add(nested_key=["typed"], number=0.5)  # a value without value_json
    records[20].history.item.add(nested_key=["opt", "beta"], value_json="0.9")  # a key in two parts
    records[25].history.item.add(nested_key=["note"], value_json='"1e3"')  # a number in a JSON string
    data = frame(records)
    slow = count_slow_rows(monkeypatch)
    fast = parse(data)[1].build()
    assert slow == [10, 20, 25]
    one_by_one = parse(data, parser=WandbFileParser(batched=False))[1].build()
    for history in (fast, one_by_one):
        assert history.series["loss"].values.tolist() == [s / 10 for s in range(30)]
        got = {k: (s.steps.tolist(), s.values.tolist()) for k, s in history.series.items() if k != "loss"}
        assert got == {"typed": ([10], [0.5]), "opt.beta": ([20], [0.9]), "note": ([25], [1000.0])}


def test_batched_decoding_gives_the_whole_history_one_by_one_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rows taken by columns carry the order state into and out of the rows the general way
    # takes: duplicates, steps out of order, refused steps, a row without a step.
    steps = [0, 1, 2, 2, 1, 5, 3, -3, 2**53 + 1, 4, 6, 6, 2]
    records = [row(s, loss=str(1 / (s + 2)), _timestamp=str(1.7e9 + abs(s) % 100)) for s in steps]
    records[3] = row(2, loss="0.75", acc="NaN")  # the same step again, with another value
    records.insert(6, row(None, loss="0.5"))  # no step at all: the one after the row before
    records.insert(9, row(9, loss='"text"', acc="1"))  # not a number: the general way
    records[11].history.item.add(nested_key=["loss"], value_json="0.25")  # a metric twice in a row
    records[12].history.item[-1].value_json = "6.5"  # a step that is not a whole number
    records += [row(s, loss=str(s), lr="0.1", _timestamp=str(1.7e9 + s)) for s in range(30, 10, -1)]
    data = frame(records)
    slow = count_slow_rows(monkeypatch)
    results = []
    for parser in (WandbFileParser(), WandbFileParser(batched=False)):
        slow.clear()
        _, builder = parse(data, parser=parser)
        history = builder.build()
        series = [(k, s.steps.tolist(), np.nan_to_num(s.values, nan=-1.0).tolist()) for k, s in history.series.items()]
        results.append((series, history.rows_read, history.skip_reasons, builder.ignored, parser.info.heartbeat))
        # Batched, only the odd rows take the general way (the one without a step reads as 0).
        assert slow == ([0, -3, 9, 2**53 + 1, 4, 6] if parser.batched else [r.history.step.num for r in records])
    assert results[0] == results[1]
    assert results[0][2] == (
        f"1 record: negative step (at byte {data.index(records[8].SerializeToString()) - 7}: -3)",
        f"1 record: step out of range (at byte {data.index(records[10].SerializeToString()) - 7}: {2**53 + 1})",
        "2 duplicate steps, the later value kept",
        "25 records out of step order, sorted",
    )


def test_a_record_over_three_blocks_is_joined(big_run: Path) -> None:
    data = big_run.read_bytes()
    kinds = [kind for _, _, kind in chunks(data)]
    assert kinds.count(FIRST) >= 1 and kinds.count(MIDDLE) >= 1 and kinds.count(LAST) >= 1
    check_logged(read_wandb_history(big_run), "big")
    # Cut anywhere inside the long record: the read stops before its FIRST chunk.
    first = next(at for at, _, kind in chunks(data) if kind == FIRST)
    last_end = next(at + size for at, size, kind in chunks(data) if kind == LAST and at > first)
    for cut in (first + 3, first + BLOCK, last_end - 1):
        end, builder = parse(data[:cut])
        assert end <= first and builder.rows_skipped == 0
        assert parse(data, end)[1].rows_read + builder.rows_read == len(expected("big")["lr"][0])


def test_a_record_split_at_the_first_block_boundary_of_a_committed_run() -> None:
    data = (HERE / "healthy.wandb").read_bytes()
    split = [(at, kind) for at, _, kind in chunks(data) if kind != FULL]
    assert [kind for _, kind in split] == [FIRST, LAST] and split[1][0] == BLOCK  # the header counts


def test_reading_while_the_sdk_writes(tmp_path: Path) -> None:
    """Poll the file as the SDK writes it: each read continues where the last one ended."""
    process = sdk_run("healthy", tmp_path, pause=0.03)
    parser, builder, offset, partial_reads = WandbFileParser(), HistoryBuilder("record"), 0, 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = process.poll() is not None
        for path in tmp_path.glob("wandb/offline-run-*/run-*.wandb"):
            with path.open("rb") as file:
                offset = parser.parse(file, offset, builder)
            partial_reads += 0 < builder.rows_read < 61
        if done:
            break
        time.sleep(0.05)
    assert process.returncode == 0
    assert partial_reads >= 2, "the file was never read mid-run"
    assert builder.rows_skipped == 0 and parser.info.exited
    check_logged(builder.build(), "healthy")


# --- incremental reads --------------------------------------------------------------


def test_reads_from_returned_offsets_give_each_row_once() -> None:
    data = (HERE / "healthy.wandb").read_bytes()
    whole = parse(data)[1].build()
    rng = np.random.default_rng(7)
    cuts = sorted({*rng.integers(0, len(data), 150).tolist(), *(at + 3 for at, _, _ in chunks(data)), len(data)})
    builder, parser, offset = HistoryBuilder("record"), WandbFileParser(), 0
    for cut in cuts:  # the file as it was, growing: each read from the last returned offset
        offset = parser.parse(io.BytesIO(data[:cut]), offset, builder)
        assert offset <= cut
    assert offset == len(data) and builder.rows_skipped == 0
    assert builder.rows_read == whole.rows_read == 61
    union = builder.build()
    for key, series in whole.series.items():
        assert union.series[key].steps.tolist() == series.steps.tolist()
        assert same(union.series[key].values.tolist(), series.values.tolist())


def test_a_read_from_an_offset_gives_only_the_rows_after_it() -> None:
    data = (HERE / "diverged.wandb").read_bytes()
    history_at = [at for at, _, _ in chunks(data) if record_kind(data, at) == "history"]
    middle = history_at[20]
    end, first_part = parse(data[:middle])
    assert end == middle and first_part.rows_read == 20
    _, rest = parse(data, end)
    assert rest.rows_read == 21
    assert rest.build().series["lr"].steps.tolist() == list(range(1000, 2001, 50))


def test_a_torn_last_record_is_left_for_the_next_read(tmp_path: Path) -> None:
    data = (HERE / "diverged.wandb").read_bytes()
    at, size, _ = [c for c in chunks(data) if record_kind(data, c[0]) == "history"][10]
    for cut in (at + 1, at + 7, at + size - 1):  # in the chunk header, in the payload
        end, builder = parse(data[:cut])
        assert (end, builder.rows_read, builder.rows_skipped) == (at, 10, 0)
    path = tmp_path / "torn.wandb"
    path.write_bytes(data[: at + size - 1])
    history = read_wandb_history(path)  # a whole-file read counts the torn record
    assert history.rows_read == 10 and history.rows_skipped == 1 and INCOMPLETE in history.skip_reasons[0]


# --- damage -------------------------------------------------------------------------


def damaged(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x55]) + data[at + 1 :]


def test_a_bad_checksum_in_the_middle_skips_that_row_only() -> None:
    data = (HERE / "healthy.wandb").read_bytes()
    at, size, _ = [c for c in chunks(data) if record_kind(data, c[0]) == "history"][30]
    end, builder = parse(damaged(data, at + size // 2))
    history = builder.build()
    assert end == len(data) and (history.rows_read, history.rows_skipped) == (60, 1)
    assert history.skip_reasons == (f"1 record: {CORRUPT} (at byte {at})",)
    assert 1500 not in history.series["lr"].steps.tolist() and 3000 in history.series["lr"].steps.tolist()


def test_damage_in_a_record_never_read_costs_nothing() -> None:
    data = (HERE / "healthy.wandb").read_bytes()
    at, size, _ = [c for c in chunks(data) if record_kind(data, c[0]) == "summary"][30]
    _, builder = parse(damaged(data, at + size - 2))
    assert (builder.rows_read, builder.rows_skipped) == (61, 0)


def test_a_bad_checksum_on_the_last_record_waits_for_more() -> None:
    """At the very end it may be a write in progress: not counted until more follows."""
    data = (HERE / "diverged.wandb").read_bytes()
    at, size, _ = [c for c in chunks(data) if record_kind(data, c[0]) == "history"][10]
    bad = damaged(data, at + size - 1)
    end, builder = parse(bad[: at + size])
    assert (end, builder.rows_read, builder.rows_skipped) == (at, 10, 0)
    end, later = parse(bad, end)
    assert end == len(data) and (later.rows_read, later.rows_skipped) == (30, 1)


def test_a_garbled_length_resynchronises_at_the_next_block() -> None:
    records = [row(s, loss=str(1.0 / (s + 1)), text=json.dumps("x" * 300)) for s in range(300)]
    good = frame(records)  # 3.4 blocks
    for block, waits in ((2, False), (3, True)):
        data = bytearray(good)
        at = next(at for at, _, _ in chunks(good) if at > block * BLOCK)
        data[at + 4 : at + 6] = struct.pack("<H", 60000)  # a length past the block's end
        end, builder = parse(bytes(data))
        history = builder.build()
        if waits:  # in the last block the next one is not there yet: maybe still being written
            assert (end, history.rows_skipped) == (at, 0)
            continue
        assert end == len(data) and history.rows_skipped == 1
        assert 1 <= 300 - history.rows_read <= BLOCK // 300  # the rest of that block at most
        assert history.series["loss"].steps.tolist()[-1] == 299


def test_zeros_are_padding_or_not_yet_written() -> None:
    data = frame([row(s, loss="1.5") for s in range(3)])
    end, builder = parse(data + bytes(100))  # zeros past the end: a file system's hole
    assert (end, builder.rows_read, builder.rows_skipped) == (len(data), 3, 0)


def test_fragments_without_their_start_are_counted_once() -> None:
    whole = frame([row(0, loss="1.0"), row(1, loss=json.dumps("y" * 70_000)), row(2, loss="2.0")])
    first = next(at for at, _, kind in chunks(whole) if kind == FIRST)
    middle = next(at for at, _, kind in chunks(whole) if kind == MIDDLE)
    data = whole[:first] + bytes(BLOCK - first % BLOCK) + whole[middle:]  # FIRST lost with its block
    end, builder = parse(data)
    history = builder.build()
    assert end == len(data) and history.series["loss"].steps.tolist() == [0, 2]
    assert history.skip_reasons == (f"1 record: orphan record fragment (at byte {BLOCK})",)


# --- what the records hold ----------------------------------------------------------


def test_values_in_every_form_the_sdk_may_write() -> None:
    media = [
        {"nested_key": ["m", "_type"], "value_json": '"image-file"'},
        {"nested_key": ["m", "height"], "value_json": "64"},
    ]
    records = [
        row(0, a="NaN", b="Infinity", c="-Infinity", d='"1.5"', e="true", f="null", g='"text"', h="[1, 2]"),
        row(1, _wandb='{"runtime": 1}', _runtime="0.5", _timestamp="1700000000.5", i='"nan'),
        pb.Record(history={"item": [{"nested_key": ["a"], "number": 2.5}, {"key": "b", "value_json": "3"}]}),
        pb.Record(
            history={"item": [{"nested_key": ["a"], "value_json": "4"}, {"nested_key": ["_step"], "value_json": "9"}]}
        ),
        pb.Record(history={"step": {"num": 12}, "item": media}),
    ]
    _, builder = parse(frame(records))
    history = builder.build()
    got = {key: (s.steps.tolist(), s.values.tolist()) for key, s in history.series.items()}
    assert set(got) == {"a", "b", "c", "d", "_runtime", "_timestamp"}
    assert got["a"][0] == [0, 2, 9] and math.isnan(got["a"][1][0]) and got["a"][1][1:] == [2.5, 4.0]
    assert got["b"] == ([0, 2], [math.inf, 3.0])  # the row without a step is the one after step 1
    assert got["c"] == ([0], [-math.inf]) and got["d"] == ([0], [1.5])
    assert got["_runtime"] == ([1], [0.5]) and got["_timestamp"] == ([1], [1700000000.5])
    assert builder.ignored == 1  # the media row held no metric


def test_a_bad_header_is_refused(tmp_path: Path) -> None:
    for content in (b"NOTW&B\x00" + bytes(100), b'{"step": 1, "loss": 2.0}\n', FILE_HEADER[:6] + b"\x01"):
        path = tmp_path / "run.wandb"
        path.write_bytes(content)
        with pytest.raises(SourceError, match=r"not a W&B offline log \(\.wandb\): bad header"):
            read_wandb_history(path)


def test_an_empty_file_or_a_header_alone_is_not_yet_a_run(tmp_path: Path) -> None:
    for content, message in ((b"", "is empty"), (FILE_HEADER[:3], "no history rows"), (FILE_HEADER, "no history rows")):
        assert parse(content)[0] == (len(FILE_HEADER) if content == FILE_HEADER else 0)
        path = tmp_path / "run.wandb"
        path.write_bytes(content)
        with pytest.raises(SourceError, match=message):
            read_wandb_history(path)


def test_start_must_be_zero_or_a_returned_offset() -> None:
    with pytest.raises(ValueError, match="inside the file header"):
        parse(FILE_HEADER, 3)


class Trickle(io.RawIOBase):
    """A stream that gives at most 100 bytes a read, as network streams may."""

    def __init__(self, data: bytes) -> None:
        self.inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.inner.seek(offset, whence)

    def readinto(self, buffer: Any) -> int:
        chunk = self.inner.read(min(len(buffer), 100))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_short_reads_change_nothing() -> None:
    data = (HERE / "healthy.wandb").read_bytes()
    stream: BinaryIO = Trickle(data)  # type: ignore[assignment]
    builder = HistoryBuilder()
    assert WandbFileParser().parse(stream, 0, builder) == len(data) and builder.rows_read == 61


# --- the replay command -------------------------------------------------------------


def test_replay_reads_a_wandb_file() -> None:
    assert read_history(HERE / "diverged.wandb").rows_read == 41  # found by its extension
    result = subprocess.run(
        [sys.executable, "-m", "training_check.cli", "replay", str(HERE / "diverged.wandb"), "--every", "50",
         "--format", "json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=True,
    )  # fmt: skip
    checks = [json.loads(line) for line in result.stdout.splitlines()]
    assert [c["step"] for c in checks] == list(range(50, 2001, 50))
    assert checks[-1]["verdict"] == "bad"
    assert any(s["name"] == "non-finite" for s in checks[-1]["signals"])
