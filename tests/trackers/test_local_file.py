"""The local-file tracker, and the atomic write it relies on (real files in tmp_path)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.clock import FakeClock
from training_check.atomic import write_atomic
from training_check.errors import TrainingCheckError
from training_check.schedule import reschedule
from training_check.state import RunState, State, embed_state, extract_state, state_to_json
from training_check.trackers import LocalTracker, Tracker
from training_check.watchlist import WatchEntry

WATCH_MD = """# Our runs

Free text for people.

```yaml
runs:
  - log: /data/runs/a/good.jsonl
  - wandb: team/proj/abc123
    stop: {pid: abc}
```
"""


def entry(name: str = "good") -> WatchEntry:
    return WatchEntry(name, None, None, None, f"/data/{name}.jsonl", None, None, 1)


@pytest.fixture
def watch_file(tmp_path: Path) -> Path:
    path = tmp_path / "runs.md"
    path.write_text(WATCH_MD, encoding="utf-8")
    return path


def test_it_is_a_tracker_with_default_paths_beside_the_watch_file(watch_file: Path) -> None:
    tracker: Tracker = LocalTracker(watch_file)
    assert isinstance(tracker, LocalTracker)
    assert tracker.dashboard_path == watch_file.parent / "runs.dashboard.md"
    assert tracker.report_path == watch_file.parent / "runs.reports.md"
    assert str(watch_file) in tracker.describe()
    assert "runs.dashboard.md" in tracker.describe()


def test_reads_a_markdown_watch_list_with_its_problems(watch_file: Path) -> None:
    watch = LocalTracker(watch_file).read_watch_list()
    assert [e.name for e in watch.entries] == ["good"]
    assert watch.problems == (
        "Watch list entry 2 was skipped: `stop: {pid: abc}` — pid must be a positive whole number.",
    )


def test_reads_a_plain_yaml_watch_list(tmp_path: Path) -> None:
    path = tmp_path / "watch.yml"
    path.write_text("runs:\n  - log: /data/x/metrics.jsonl\n    name: x1\n", encoding="utf-8")
    tracker = LocalTracker(path)
    assert [e.name for e in tracker.read_watch_list().entries] == ["x1"]
    assert tracker.dashboard_path.name == "watch.dashboard.md"


def test_a_missing_watch_file_is_an_error_with_an_example(tmp_path: Path) -> None:
    with pytest.raises(TrainingCheckError) as caught:
        LocalTracker(tmp_path / "nope.md").read_watch_list()
    assert caught.value.message == f"The watch list {tmp_path / 'nope.md'} does not exist."
    assert caught.value.tip is not None
    assert "```yaml\nruns:\n  - log: /data/runs/a/metrics.jsonl\n```" in caught.value.tip
    with pytest.raises(TrainingCheckError) as caught:
        LocalTracker(tmp_path / "nope.yaml").read_watch_list()
    assert caught.value.tip is not None
    assert "```" not in caught.value.tip


def test_an_unreadable_watch_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "bin.md").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(TrainingCheckError, match="Cannot read the watch list"):
        LocalTracker(tmp_path / "bin.md").read_watch_list()


def test_the_dashboard_cannot_overwrite_the_watch_list(watch_file: Path) -> None:
    with pytest.raises(TrainingCheckError, match="is the watch list itself"):
        LocalTracker(watch_file, dashboard_path=watch_file)


def test_publish_then_load_state_round_trips(watch_file: Path) -> None:
    clock = FakeClock()
    tracker = LocalTracker(watch_file)
    state = State(runs={"good": reschedule(RunState(last_step=40), anomaly=False, now=clock.now())})
    tracker.publish("# Dashboard\n\n| run | verdict |\n", state)
    text = tracker.dashboard_path.read_text(encoding="utf-8")
    assert text.startswith("# Dashboard\n\n| run | verdict |\n\n<!-- training-check:state ")
    assert extract_state(text) == state_to_json(state)  # exactly as on GitHub
    assert tracker.load_state() == (state, None)
    assert watch_file.read_text(encoding="utf-8") == WATCH_MD


def test_publishing_again_replaces_the_dashboard(watch_file: Path, tmp_path: Path) -> None:
    tracker = LocalTracker(watch_file, dashboard_path=tmp_path / "dash.md")
    tracker.publish("# One\n", State(runs={"a": RunState(last_step=1)}))
    tracker.publish("# Two\n", State(runs={"a": RunState(last_step=2)}))
    text = (tmp_path / "dash.md").read_text(encoding="utf-8")
    assert text.startswith("# Two\n") and "# One" not in text
    assert tracker.load_state()[0].run("a").last_step == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_a_missing_dashboard_gives_the_default_state_and_a_notice(watch_file: Path) -> None:
    state, notice = LocalTracker(watch_file).load_state()
    assert state == State()
    assert notice is not None and notice.startswith("The bot state was missing")


def test_a_dashboard_without_or_with_a_corrupt_state_gives_a_notice(watch_file: Path) -> None:
    tracker = LocalTracker(watch_file)
    tracker.dashboard_path.write_text("# Dashboard edited by hand\n", encoding="utf-8")
    state, notice = tracker.load_state()
    assert state == State()
    assert notice is not None and notice.startswith("The bot state was missing")
    tracker.dashboard_path.write_text("# D\n<!-- training-check:state {oops} -->\n", encoding="utf-8")
    state, notice = tracker.load_state()
    assert state == State()
    assert notice is not None and notice.startswith("The bot state was corrupt (not valid JSON")
    newer = embed_state("# D\n", State()).replace('"version":1', '"version":7')
    tracker.dashboard_path.write_text(newer, encoding="utf-8")
    _, notice = tracker.load_state()
    assert notice is not None and "newer training-check" in notice


def test_verdicts_are_appended_with_a_rule_between_them(watch_file: Path) -> None:
    tracker = LocalTracker(watch_file)
    tracker.post_verdict(entry(), "**good** is fine at step 100.\n")
    tracker.post_verdict(entry(), "**good** is bad at step 200.")
    assert tracker.report_path.read_text(encoding="utf-8") == (
        "**good** is fine at step 100.\n\n---\n\n**good** is bad at step 200.\n"
    )


# ---- write_atomic -----------------------------------------------------------------------


def test_write_atomic_writes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.md"
    write_atomic(path, "one\n")
    write_atomic(path, "two — ü\r\n")
    assert path.read_bytes() == "two — ü\r\n".encode()
    assert os.listdir(tmp_path) == ["f.md"]


def test_write_atomic_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "f.md"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o640)
    write_atomic(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_failure_before_the_rename_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.md"
    path.write_text("old and complete\n", encoding="utf-8")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk pulled out"):
        write_atomic(path, "new " * 100_000)
    assert path.read_text(encoding="utf-8") == "old and complete\n"
    assert os.listdir(tmp_path) == ["f.md"]  # the half-done temp file was removed


def test_a_failure_half_way_through_the_write_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.md"
    path.write_text("old and complete\n", encoding="utf-8")

    def failing_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(path, "new " * 100_000)
    assert path.read_text(encoding="utf-8") == "old and complete\n"
    assert os.listdir(tmp_path) == ["f.md"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_process_killed_mid_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "f.md"
    path.write_text("old and complete\n", encoding="utf-8")
    # The child dies the hardest way possible right where a crash would hurt most:
    # the new text is fully written to the temp file but not yet renamed.
    script = textwrap.dedent(
        f"""
        import os, signal
        from training_check import atomic
        os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)
        atomic.write_atomic({str(path)!r}, "new " * 100_000)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert path.read_text(encoding="utf-8") == "old and complete\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "f.md"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".f.md.") and leftovers[0].endswith(".tmp")
