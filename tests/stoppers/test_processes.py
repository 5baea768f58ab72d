"""Process facts through the transport, and that no unchecked value ever reaches a command."""

from __future__ import annotations

import os
import time

import pytest

from stoppers.helpers import RecordingTransport, StartTrainer
from training_check.model import StopKind, StopTarget
from training_check.stoppers import group_alive, group_members, process_info, signal
from training_check.stoppers.processes import checked_id, terminal_busy


def test_process_info_reads_start_time_in_the_hosts_clock(trainers: StartTrainer) -> None:
    trainer = trainers()
    transport = RecordingTransport()
    info = process_info(transport, trainer.pid)
    assert info is not None
    assert info.pid == trainer.pid and not info.zombie
    assert abs(info.started_at - time.time()) < 15  # etimes has whole seconds
    assert "trainer_sleeper.py" in info.command
    assert transport.calls == [
        ["ps", "-ww", "-o", "pid=,stat=,etimes=,args=", "-p", str(trainer.pid)],
        ["date", "+%s"],
    ]


def test_process_info_is_none_for_a_missing_process() -> None:
    transport = RecordingTransport()
    assert process_info(transport, 2**31 - 1) is None
    assert [c[0] for c in transport.calls] == ["ps"]  # no need for the time then


def test_group_members_include_the_child(trainers: StartTrainer) -> None:
    trainer = trainers("t", "--child")
    members = {m.pid for m in group_members(RecordingTransport(), trainer.pid)}
    assert members == {trainer.pid, trainer.child_pid()}
    assert group_alive(RecordingTransport(), trainer.pid)
    # Our own group is not the trainer's (it has its own session).
    assert os.getpgid(0) != trainer.pid


def test_a_group_without_members_is_not_alive() -> None:
    assert not group_alive(RecordingTransport(), 2**31 - 1)


def test_signal_builds_separate_argv_items(trainers: StartTrainer) -> None:
    trainer = trainers()
    transport = RecordingTransport()
    signal(transport, "INT", trainer.pid)
    signal(transport, "INT", -(2**31 - 1))  # a missing group: not an error (it exited first)
    assert transport.calls == [
        ["kill", "-s", "INT", "--", str(trainer.pid)],
        ["kill", "-s", "INT", "--", f"-{2**31 - 1}"],
    ]


@pytest.mark.parametrize("sig", ["HUP", "INT; rm -rf /", "-9", ""])
def test_only_known_signals_are_sent(sig: str) -> None:
    transport = RecordingTransport()
    with pytest.raises(ValueError):
        signal(transport, sig, 4242)
    assert transport.calls == []


@pytest.mark.parametrize("target", [1, -1, 0, 2**31, True])
def test_dangerous_or_invalid_ids_are_never_signalled(target: int) -> None:
    # `kill -- -1` would signal every process we are allowed to signal.
    transport = RecordingTransport()
    with pytest.raises(ValueError):
        signal(transport, "KILL", target)
    assert transport.calls == []


@pytest.mark.parametrize("value", [0, -5, 2**31, True, "12"])
def test_checked_id_accepts_only_plausible_ids(value: object) -> None:
    with pytest.raises(ValueError):
        checked_id(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", list(StopKind))
@pytest.mark.parametrize("value", ["123; rm -rf /", "a b", "$(reboot)", "", "1 2", "x\n", "`id`", "a'b"])
def test_stop_targets_refuse_values_a_shell_would_read(kind: StopKind, value: str) -> None:
    with pytest.raises(ValueError):
        StopTarget(kind, value)


@pytest.mark.parametrize("kind", [StopKind.PID, StopKind.PGID, StopKind.SLURM])
@pytest.mark.parametrize("value", ["-1", "0", "+5", "1e3", "0x10", "１２", str(2**31)])
def test_numeric_targets_refuse_anything_but_a_positive_number(kind: StopKind, value: str) -> None:
    with pytest.raises(ValueError):
        StopTarget(kind, value)


def test_an_idle_shell_is_not_busy_but_its_child_is(trainers: StartTrainer) -> None:
    trainer = trainers("t", "--child")
    transport = RecordingTransport()
    # The trainer is not a shell: a terminal running it directly is busy.
    assert terminal_busy(transport, [trainer.pid])
    assert not terminal_busy(transport, [])
    assert not terminal_busy(transport, [2**31 - 1])
