"""SignalStopper on real processes: escalation, the PID-reuse guard, write-ahead and resume."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from stoppers.helpers import RecordingTransport, SaveLog, StartTrainer, is_running, wait_for
from support.clock import FakeClock
from training_check.clock import SystemClock
from training_check.model import StopKind, StopOutcome, StopRecord, StopStep, StopTarget
from training_check.stoppers import FINAL, SignalStopper, process_info

GRACE = 1.0


def stopper(transport: RecordingTransport, grace: float = GRACE) -> SignalStopper:
    """A stopper on the real clock, polling often so the tests stay quick."""
    return SignalStopper(transport, SystemClock(), grace, poll_seconds=0.05, verify_seconds=3.0)


def pid_target(pid: int, kind: StopKind = StopKind.PID) -> StopTarget:
    return StopTarget(kind, str(pid))


def actions(record: StopRecord) -> list[str]:
    return [step.action for step in record.steps]


def started() -> float:
    """A run start a little before now: the trainers of these tests belong to it."""
    return time.time() - 5


def test_sigint_is_enough_for_a_trainer_that_saves(trainers: StartTrainer) -> None:
    trainer = trainers()
    saves, transport = SaveLog(), RecordingTransport()
    record = stopper(transport).stop(pid_target(trainer.pid), started(), None, saves, "rule", "loss is NaN")
    assert record.outcome is StopOutcome.STOPPED
    assert actions(record) == ["SIGINT", "exited"]
    assert trainer.marker("got_SIGINT") and trainer.marker("checkpoint")
    assert not trainer.running()
    assert transport.commands("kill") == [["kill", "-s", "INT", "--", str(trainer.pid)]]
    assert record.detail.startswith(f"SIGINT to pid {trainer.pid} at ")
    assert "so the trainer had time to save a checkpoint" in record.detail
    assert (record.by, record.reason) == ("rule", "loss is NaN")
    assert saves.last == record


def test_a_trainer_ignoring_sigint_gets_sigterm_after_the_grace(trainers: StartTrainer) -> None:
    trainer = trainers("t", "--ignore-int")
    record = stopper(RecordingTransport()).stop(
        pid_target(trainer.pid), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED
    assert actions(record) == ["SIGINT", "SIGTERM", "exited"]
    assert record.steps[1].at - record.steps[0].at >= GRACE
    assert trainer.marker("got_SIGINT") and trainer.marker("got_SIGTERM")
    assert not trainer.marker("checkpoint")
    assert "no exit within" in record.detail and "SIGTERM at" in record.detail


def test_a_trainer_ignoring_both_is_killed(trainers: StartTrainer) -> None:
    trainer = trainers("t", "--ignore-int", "--ignore-term")
    record = stopper(RecordingTransport()).stop(
        pid_target(trainer.pid), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED
    assert actions(record) == ["SIGINT", "SIGTERM", "SIGKILL", "exited"]
    assert not trainer.running()
    assert trainer.proc.wait(timeout=5) == -9
    assert "killed: no checkpoint could be saved" in record.detail


def test_a_process_group_is_stopped_whole_child_included(trainers: StartTrainer) -> None:
    # The child ignores SIGINT and SIGTERM: only the group's SIGKILL ends it.
    trainer = trainers("t", "--child")
    child = trainer.child_pid()
    transport = RecordingTransport()
    record = stopper(transport).stop(
        pid_target(trainer.pid, StopKind.PGID), started(), None, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED
    assert actions(record) == ["SIGINT", "SIGTERM", "SIGKILL", "exited"]
    assert trainer.marker("checkpoint")  # the leader saved on SIGINT
    assert (trainer.folder / "child" / "got_SIGINT").exists()
    assert not is_running(child) and not trainer.running()
    assert [c[-1] for c in transport.commands("kill")] == [f"-{trainer.pid}"] * 3
    assert record.detail.startswith(f"SIGINT to process group {trainer.pid}")


def test_a_process_that_already_exited_is_already_gone() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    transport = RecordingTransport()
    record = stopper(transport).stop(pid_target(proc.pid), started(), None, SaveLog(), "rule", "r")
    assert record.outcome is StopOutcome.ALREADY_GONE
    assert record.steps == ()
    assert transport.commands("kill") == []


def test_a_zombie_counts_as_exited() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Not reaped (no wait/poll): it stays a zombie, which `kill -0` would call alive.
        assert wait_for(lambda: getattr(process_info(RecordingTransport(), proc.pid), "zombie", False))
        transport = RecordingTransport()
        record = stopper(transport).stop(pid_target(proc.pid), started(), None, SaveLog(), "rule", "r")
        assert record.outcome is StopOutcome.ALREADY_GONE
        assert "zombie" in record.detail
        assert transport.commands("kill") == []
    finally:
        proc.wait()


def test_a_process_started_after_the_run_is_refused_and_left_running(trainers: StartTrainer) -> None:
    trainer = trainers()
    transport = RecordingTransport()
    run_began = time.time() - 3600  # the run began an hour ago; this process is new
    record = stopper(transport).stop(pid_target(trainer.pid), run_began, None, SaveLog(), "rule", "r")
    assert record.outcome is StopOutcome.REFUSED
    assert "not the training process" in record.detail
    assert transport.commands("kill") == []
    time.sleep(0.2)
    assert trainer.running() and not trainer.marker("got_SIGINT")


def test_the_guard_is_checked_again_before_a_later_signal(trainers: StartTrainer) -> None:
    # SIGINT went out 200 s ago; the pid now belongs to a newer process: no SIGTERM for it.
    trainer = trainers("t", "--ignore-int")
    now = time.time()
    previous = StopRecord(pid_target(trainer.pid), now - 200, "rule", "r", (StopStep("SIGINT", now - 200),))
    transport = RecordingTransport()
    record = stopper(transport, 120).stop(
        pid_target(trainer.pid), now - 3600, previous, SaveLog(), "rule", "r"
    )
    assert record.outcome is StopOutcome.STOPPED
    assert "not the training process" in record.detail
    assert transport.commands("kill") == []
    assert trainer.running()


def test_dry_run_signals_nothing(trainers: StartTrainer) -> None:
    trainer = trainers()
    transport, saves = RecordingTransport(), SaveLog()
    quick = SignalStopper(transport, FakeClock(), 120, dry_run=True)
    record = quick.stop(pid_target(trainer.pid), started(), None, saves, "rule", "r")
    assert record.outcome is StopOutcome.DRY_RUN
    assert record.detail.startswith(f"would send SIGINT to pid {trainer.pid}, then SIGTERM")
    assert transport.commands("kill") == []
    assert saves.records == [record]
    time.sleep(0.2)
    assert trainer.running() and not trainer.marker("got_SIGINT")


def test_every_signal_is_saved_before_it_is_sent(trainers: StartTrainer) -> None:
    trainer = trainers("t", "--ignore-int")
    seen: list[tuple[str, bool]] = []

    def save(record: StopRecord) -> None:
        # The marker appears when the trainer receives the signal: not yet at save time.
        last = record.steps[-1].action if record.steps else ""
        if last in ("SIGINT", "SIGTERM") and record.outcome is StopOutcome.IN_PROGRESS:
            seen.append((last, trainer.marker(f"got_{last}")))

    record = stopper(RecordingTransport()).stop(pid_target(trainer.pid), started(), None, save, "rule", "r")
    assert record.outcome is StopOutcome.STOPPED
    assert seen == [("SIGINT", False), ("SIGTERM", False)]
    assert trainer.marker("got_SIGINT") and trainer.marker("got_SIGTERM")


def test_a_crash_after_sigint_never_sends_it_twice(trainers: StartTrainer) -> None:
    trainer = trainers("t", "--ignore-int")
    persisted: list[StopRecord] = []

    def save(record: StopRecord) -> None:
        if persisted and persisted[-1].sent("SIGINT"):
            raise OSError("disk full (injected)")  # the checker dies; this save is lost
        persisted.append(record)

    target = pid_target(trainer.pid)
    with pytest.raises(OSError):
        stopper(RecordingTransport()).stop(target, started(), None, save, "rule", "r")
    assert actions(persisted[-1]) == ["SIGINT"] and trainer.sigint_count() == 1

    saves, transport = SaveLog(), RecordingTransport()
    record = stopper(transport).stop(target, started(), persisted[-1], saves, "rule", "r")
    assert record.outcome is StopOutcome.STOPPED
    assert actions(record) == ["SIGINT", "SIGTERM", "exited"]
    assert trainer.sigint_count() == 1 and trainer.marker("got_SIGTERM")
    assert [c[2] for c in transport.commands("kill")] == ["TERM"]


def test_a_crash_right_after_sending_resumes_without_resending(trainers: StartTrainer) -> None:
    trainer = trainers()
    saves = SaveLog()
    crashing = RecordingTransport(crash_after=["kill", "-s", "INT"])
    with pytest.raises(RuntimeError):
        stopper(crashing).stop(pid_target(trainer.pid), started(), None, saves, "rule", "r")
    transport = RecordingTransport()
    record = stopper(transport).stop(pid_target(trainer.pid), started(), saves.last, saves, "rule", "r")
    assert record.outcome is StopOutcome.STOPPED
    assert actions(record) == ["SIGINT", "exited"]
    assert trainer.sigint_count() == 1 and trainer.marker("checkpoint")
    assert transport.commands("kill") == []


def test_a_sigint_older_than_the_grace_leads_straight_to_sigterm(trainers: StartTrainer) -> None:
    trainer = trainers("t", "--ignore-int")
    now = time.time()
    previous = StopRecord(pid_target(trainer.pid), now - 200, "rule", "r", (StopStep("SIGINT", now - 200),))
    transport = RecordingTransport()
    begun = time.monotonic()
    record = stopper(transport, 120).stop(
        pid_target(trainer.pid), started(), previous, SaveLog(), "rule", "r"
    )
    assert time.monotonic() - begun < 5
    assert record.outcome is StopOutcome.STOPPED
    assert actions(record) == ["SIGINT", "SIGTERM", "exited"]
    assert [c[2] for c in transport.commands("kill")] == ["TERM"]
    assert trainer.sigint_count() == 0  # the "earlier cycle" never really sent it


@pytest.mark.parametrize("outcome", [o for o in StopOutcome if o in FINAL])
def test_a_finished_record_is_returned_without_running_anything(outcome: StopOutcome) -> None:
    target = pid_target(4242)
    previous = StopRecord(target, 1.0, "rule", "r", (StopStep("SIGINT", 2.0),), outcome, "done.")
    transport, saves = RecordingTransport(), SaveLog()
    record = SignalStopper(transport, FakeClock(), 120).stop(target, 0.0, previous, saves, "rule", "r")
    assert record is previous
    assert transport.calls == [] and saves.records == []


def test_a_transport_failure_is_recorded_as_failed(trainers: StartTrainer) -> None:
    trainer = trainers()
    saves = SaveLog()
    broken = RecordingTransport(fail_on=["kill"])
    record = SignalStopper(broken, FakeClock(), 120).stop(
        pid_target(trainer.pid), started(), None, saves, "rule", "r"
    )
    assert record.outcome is StopOutcome.FAILED
    assert "could not be run (injected)" in record.detail
    assert actions(record) == ["SIGINT"]  # written ahead: never sent again by a later cycle
    assert saves.last == record


def test_pid_1_is_never_signalled() -> None:
    transport = RecordingTransport()
    for kind in (StopKind.PID, StopKind.PGID):
        record = stopper(transport).stop(pid_target(1, kind), 0.0, None, SaveLog(), "rule", "r")
        assert record.outcome is StopOutcome.REFUSED
    assert transport.calls == []


def test_a_previous_record_for_another_target_is_an_error() -> None:
    previous = StopRecord(pid_target(4242), 1.0, "rule", "r")
    with pytest.raises(ValueError, match="previous record"):
        SignalStopper(RecordingTransport(), FakeClock(), 1).stop(
            pid_target(4243), 0.0, previous, SaveLog(), "r", "r"
        )


def test_other_kinds_are_not_for_the_signal_stopper(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot stop"):
        SignalStopper(RecordingTransport(), FakeClock(), 1).plan(StopTarget(StopKind.TMUX, "train"), 0.0)


def test_previous_records_keep_their_request(trainers: StartTrainer) -> None:
    trainer = trainers()
    previous = StopRecord(pid_target(trainer.pid), 123.0, "@alice", "asked on the PR")
    record = stopper(RecordingTransport()).stop(
        pid_target(trainer.pid), started(), previous, SaveLog(), "rule", "x"
    )
    assert replace(record, steps=(), outcome=previous.outcome, detail="") == previous
