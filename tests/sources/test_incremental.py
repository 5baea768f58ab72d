"""read_new on real local files: only new rows, torn lines, truncation, rotation, CSV headers.

The same code reads over SFTP (tests/sources/test_log_source.py); here the opener is a
local file, plus one test opener that hides the inode as SFTP does.
"""

from __future__ import annotations

import json
import os
import struct
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pytest

from training_check.model import History
from training_check.sources import SourceError
from training_check.sources.incremental import FORMATS, Format, read_history, read_new
from training_check.sources.interface import Cursor, Fetched
from training_check.sources.rows import HistoryBuilder
from training_check.sources.streams import HEAD_BYTES, LocalFile, OpenedFile


def jsonl(steps: range) -> bytes:
    return b"".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}).encode() + b"\n" for s in steps)


def steps(history: History, key: str = "loss") -> list[int]:
    return history.series[key].steps.tolist() if key in history.series else []


def read(path: Path, cursor: Cursor | None = None, fmt: str | None = None) -> Fetched:
    return read_new(LocalFile(path), fmt, cursor)


def test_a_growing_file_gives_only_the_new_rows(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    first = jsonl(range(200))  # over 4 KiB, so the identity check reads exactly HEAD_BYTES
    path.write_bytes(first)
    one = read(path)
    assert steps(one.new) == list(range(200))
    assert (one.cursor.offset, one.cursor.last_step, one.transferred_bytes) == (len(first), 199, len(first))
    assert one.heartbeat == os.stat(path).st_mtime and not one.reset
    more = jsonl(range(200, 250))
    with path.open("ab") as file:
        file.write(more)
    two = read(path, one.cursor)
    assert steps(two.new) == list(range(200, 250))
    assert two.cursor.offset == len(first) + len(more) and not two.reset
    # The new bytes, plus the first 4 KiB read again to check that it is the same file.
    assert two.transferred_bytes == len(more) + HEAD_BYTES
    three = read(path, two.cursor)
    assert three.new.rows_read == 0 and three.cursor == two.cursor
    assert three.transferred_bytes == HEAD_BYTES


def test_a_torn_last_line_waits_for_the_next_read(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(2)) + b'{"step": 2, "lo')
    one = read(path)
    assert steps(one.new) == [0, 1] and one.new.skip_reasons == ()
    assert one.cursor.offset == len(jsonl(range(2)))
    with path.open("ab") as file:
        file.write(b'ss": 0.5}\n')
    two = read(path, one.cursor)
    assert steps(two.new) == [2] and two.new.series["loss"].values.tolist() == [0.5]
    assert two.new.rows_skipped == 0


def test_truncation_starts_again_from_the_top(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(100)))
    one = read(path)
    path.write_bytes(jsonl(range(5)))  # same inode, now shorter than the offset
    two = read(path, one.cursor)
    assert two.reset and "truncated" in two.notes["reset"]
    assert steps(two.new) == list(range(5)) and two.cursor.offset == len(jsonl(range(5)))


def test_a_file_rewritten_in_place_past_the_old_offset_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(10)))
    one = read(path)
    # A rerun of `train.py > metrics.jsonl`: same inode, and already longer than before.
    rerun = b"".join(json.dumps({"step": s, "loss": 9.0}).encode() + b"\n" for s in range(50))
    path.write_bytes(rerun)
    two = read(path, one.cursor)
    assert two.reset and "first bytes changed" in two.notes["reset"]
    assert steps(two.new) == list(range(50))


def test_rotation_is_noticed_by_the_inode(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(100)))
    one = read(path)
    path.rename(tmp_path / "metrics.jsonl.1")  # kept, so its inode cannot be reused
    # The new file starts with the very same bytes: only the inode tells them apart.
    path.write_bytes(jsonl(range(150)))
    two = read(path, one.cursor)
    assert two.reset and "inode" in two.notes["reset"]
    assert steps(two.new) == list(range(150))


class NoInode(LocalFile):
    """A local file that does not tell its inode, as over SFTP."""

    @contextmanager
    def open(self) -> Iterator[OpenedFile]:
        with super().open() as opened:
            yield OpenedFile(opened.file, opened.size, None, opened.mtime)


def test_without_an_inode_the_first_bytes_tell_a_replacement(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(100)))
    one = read_new(NoInode(path), None, None)
    assert one.cursor.identity.startswith(":")
    path.rename(tmp_path / "old.jsonl")
    path.write_bytes(jsonl(range(3, 150)))
    two = read_new(NoInode(path), None, one.cursor)
    assert two.reset and steps(two.new) == list(range(3, 150))


def test_a_cursor_made_elsewhere_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(10)))
    fetched = read(path, Cursor(last_step=4, offset=30, identity=""))
    assert fetched.reset and steps(fetched.new) == list(range(10))


CSV_HEADER = "step,loss,lr\n"


def test_csv_read_from_mid_file_keeps_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text(CSV_HEADER + "".join(f"{s},{2.0 - s / 100},0.1\n" for s in range(300)))
    one = read(path)
    with path.open("a") as file:
        file.write("300,0.5,0.05\n301,0.4,0.05\n")
    two = read(path, one.cursor)
    assert steps(two.new) == [300, 301] and steps(two.new, "lr") == [300, 301]
    assert two.new.series["lr"].values.tolist() == [0.05, 0.05]
    assert two.transferred_bytes == len("300,0.5,0.05\n301,0.4,0.05\n") + HEAD_BYTES  # header from the head


def test_csv_with_a_header_longer_than_the_head(tmp_path: Path) -> None:
    columns = [f"metric_{i:04d}" for i in range(600)]  # a 7 KiB header
    path = tmp_path / "wide.csv"
    path.write_text("step," + ",".join(columns) + "\n" + "0," + ",".join("1" for _ in columns) + "\n")
    one = read(path)
    with path.open("a") as file:
        file.write("1," + ",".join("2" for _ in columns) + "\n")
    two = read(path, one.cursor)
    assert steps(two.new, "metric_0599") == [1] and len(two.new.series) == 600


def test_rows_without_steps_keep_counting_across_reads(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("loss=2.0\nloss=1.9\n")
    one = read(path)
    with path.open("a") as file:
        file.write("loss=1.8\n")
    assert steps(read(path, one.cursor).new) == [2]


def test_a_line_over_1_mib_is_skipped_without_holding_it(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    with path.open("wb") as file:
        file.write(jsonl(range(3)) + b'{"junk": "' + b"x" * (24 << 20))  # 24 MiB, still being written
    tracemalloc.start()
    one = read(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 << 20  # a few 1 MiB buffers, never the line
    assert steps(one.new) == [0, 1, 2] and one.cursor.offset == len(jsonl(range(3)))
    with path.open("ab") as file:
        file.write(b'"}\n' + jsonl(range(3, 5)))
    two = read(path, one.cursor)
    assert steps(two.new) == [3, 4]
    assert two.new.skip_reasons == (f"1 line: longer than 1 MiB (at byte {one.cursor.offset})",)


def test_the_format_is_sniffed_when_the_name_does_not_tell(tmp_path: Path) -> None:
    path = tmp_path / "metrics"
    path.write_text("\n\nstep,loss\n0,2.0\n")
    assert steps(read(path).new) == [0]
    assert steps(read(path, fmt="csv").new) == [0]
    with pytest.raises(SourceError, match="unknown format 'xml'"):
        read(path, fmt="xml")


def test_utf16_is_refused_with_a_tip(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("step 1 loss=2.0\n", encoding="utf-16")
    with pytest.raises(SourceError, match="UTF-16") as caught:
        read(path)
    assert caught.value.tip is not None and "iconv" in caught.value.tip


class Records:
    """A binary format of fixed 16-byte records (int64 step, float64 loss): not line-based."""

    def __init__(self, name: str) -> None:
        self.name = name

    def parse(self, stream: BinaryIO, start: int, builder: HistoryBuilder) -> int:
        stream.seek(start)
        while len(record := stream.read(16)) == 16:
            step, loss = struct.unpack("<qd", record)
            builder.add(step, {"loss": loss})
            start += 16
        return start


def test_a_stream_format_plugs_in_with_one_table_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FORMATS, "records", Format(Records, (".rec",)))
    path = tmp_path / "run.rec"
    path.write_bytes(b"".join(struct.pack("<qd", s, 1.0 / (s + 1)) for s in range(4)) + b"\x05\x00")
    one = read(path)
    assert steps(one.new) == [0, 1, 2, 3] and one.cursor.offset == 64
    with path.open("ab") as file:
        file.write(b"\x00" * 6 + struct.pack("<d", 0.25))
    assert steps(read(path, one.cursor).new) == [5]


# --- the whole-file read of `replay`, on the same code ----------------------------------


@pytest.mark.parametrize(("content", "problem"), [("", "is empty"), ("\n\n", "is empty"), ("a,b\n", "no metric rows")])
def test_read_history_keeps_the_whole_file_errors(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "metrics.txt"
    path.write_text(content)
    with pytest.raises(SourceError, match=problem):
        read_history(path)
    with pytest.raises(SourceError, match="no such file"):
        read_history(tmp_path / "missing.csv")
