"""LogSource: a metrics file on this machine, or read over SFTP from the test sshd.

The SFTP files live in this machine's tmp folder too (the sshd is local), so a test
writes them directly and reads them through the SSH connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.sshd import ClientKeys, SSHServer, free_port
from training_check.model import History
from training_check.sources import SourceError
from training_check.sources.interface import SourceUnreachable
from training_check.sources.log_source import LogSource, PipelinedFile
from training_check.sources.streams import HEAD_BYTES
from training_check.transport import LocalTransport
from training_check.transport.ssh import SSHTransport


def jsonl(steps: range) -> bytes:
    return b"".join(json.dumps({"step": s, "loss": 1.0 / (s + 1)}).encode() + b"\n" for s in steps)


def steps(history: History, key: str = "loss") -> list[int]:
    return history.series[key].steps.tolist() if key in history.series else []


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


@pytest.fixture
def box(sshd: SSHServer, ssh_keys: ClientKeys) -> Iterator[SSHTransport]:
    host = sshd.host()
    with SSHTransport(host, {host.name: host}, sshd.environ(ssh_keys.ed25519)) as transport:
        yield transport


# --- local -----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", [None, LocalTransport()])
def test_a_local_file_is_read_directly(tmp_path: Path, transport: LocalTransport | None) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(3)))
    source = LogSource(path, transport)
    assert source.name == "local"
    one = source.fetch(None)
    append(path, jsonl(range(3, 5)))
    assert steps(one.new) == [0, 1, 2] and steps(source.fetch(one.cursor).new) == [3, 4]


def test_a_missing_local_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file") as caught:
        LogSource(tmp_path / "gone.csv", None).fetch(None)
    assert not isinstance(caught.value, SourceUnreachable)


# --- over SFTP ---------------------------------------------------------------------------


def test_a_growing_remote_file_gives_only_the_new_rows(box: SSHTransport, tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    first = jsonl(range(200))
    path.write_bytes(first)
    source = LogSource(path, box)
    assert source.name == "sftp"
    one = source.fetch(None)
    assert steps(one.new) == list(range(200)) and one.transferred_bytes == len(first)
    assert one.heartbeat == int(path.stat().st_mtime)  # SFTP gives whole seconds
    more = jsonl(range(200, 230))
    append(path, more)
    two = source.fetch(one.cursor)
    assert steps(two.new) == list(range(200, 230)) and not two.reset
    assert two.transferred_bytes == len(more) + HEAD_BYTES
    assert box.connections == 1


def test_a_torn_remote_line_waits(box: SSHTransport, tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("step 1 loss=2.0\nstep 2 loss=1.")
    source = LogSource(path, box)
    one = source.fetch(None)
    assert steps(one.new) == [1] and one.cursor.offset == len("step 1 loss=2.0\n")
    append(path, b"9\n")
    two = source.fetch(one.cursor)
    assert two.new.series["loss"].values.tolist() == [1.9]


def test_remote_truncation_and_rotation_reset(box: SSHTransport, tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_bytes(jsonl(range(100)))
    source = LogSource(path, box)
    one = source.fetch(None)
    path.write_bytes(jsonl(range(4)))
    two = source.fetch(one.cursor)
    assert two.reset and "truncated" in two.notes["reset"] and steps(two.new) == list(range(4))
    path.rename(tmp_path / "metrics.jsonl.1")
    path.write_bytes(jsonl(range(50, 200)))  # SFTP shows no inode: the first bytes differ
    three = source.fetch(two.cursor)
    assert three.reset and steps(three.new) == list(range(50, 200))


def test_remote_csv_from_mid_file(box: SSHTransport, tmp_path: Path) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text("step,train/loss,lr\n" + "".join(f"{s},{2 - s / 1000},0.1\n" for s in range(500)))
    source = LogSource(path, box)
    one = source.fetch(None)
    append(path, b"500,0.5,0.01\n")
    two = source.fetch(one.cursor)
    assert steps(two.new, "train/loss") == [500] and two.new.series["lr"].values.tolist() == [0.01]


def test_a_large_remote_file_is_read_whole(box: SSHTransport, tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    data = jsonl(range(60_000))  # 1.7 MiB: two 1 MiB reads of 32 pipelined SFTP requests each
    path.write_bytes(data)
    fetched = LogSource(path, box).fetch(None)
    assert steps(fetched.new) == list(range(60_000))
    assert fetched.transferred_bytes == len(data) and fetched.cursor.offset == len(data)


def test_reads_past_the_size_seen_at_open_still_work(box: SSHTransport, tmp_path: Path) -> None:
    path = tmp_path / "grown.bin"
    data = bytes(range(256)) * 800  # 200 KiB
    path.write_bytes(data)
    with box.sftp().open(str(path), "rb") as file:
        grown = PipelinedFile(file, size=100_000)  # as if it grew after it was opened
        grown.seek(60_000)
        assert grown.read(80_000) == data[60_000:140_000]
        assert grown.read(1 << 20) == data[140_000:]


def test_a_missing_remote_file_or_a_directory_is_a_source_error(box: SSHTransport, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"box:.*gone\.jsonl: no such file") as caught:
        LogSource(tmp_path / "gone.jsonl", box).fetch(None)
    assert not isinstance(caught.value, SourceUnreachable)
    with pytest.raises(SourceError, match="is a directory"):
        LogSource(tmp_path, box).fetch(None)


def test_an_unreachable_host_makes_the_source_unreachable(
    sshd: SSHServer, ssh_keys: ClientKeys, tmp_path: Path
) -> None:
    host = sshd.host(port=free_port())
    transport = SSHTransport(host, {host.name: host}, sshd.environ(ssh_keys.ed25519))
    with pytest.raises(SourceUnreachable, match="refused the connection") as caught:
        LogSource(tmp_path / "metrics.jsonl", transport).fetch(None)
    assert caught.value.tip is not None and "port" in caught.value.tip
