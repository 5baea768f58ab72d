"""SlurmStopper against stand-in `scancel` and `squeue` (first on PATH), and the factory."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from stoppers.helpers import RecordingTransport, SaveLog
from support.clock import FakeClock
from training_check.model import StopKind, StopOutcome, StopRecord, StopStep, StopTarget
from training_check.stoppers import FINAL, SessionStopper, SignalStopper, SlurmStopper, stopper_for

JOB = "991234"
# Both stand-ins record their argv; the job's state lives in a file next to them.
STANDIN = """#!{python}
import json, os, sys
from pathlib import Path

here = Path(__file__).resolve().parent
name, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(here / "calls.jsonl", "a") as calls:
    calls.write(json.dumps([name, *args]) + "\\n")
state = here / "state"
if name == "squeue":
    if state.read_text() == "PURGED":
        sys.exit("slurm_load_jobs error: Invalid job id specified")
    print(state.read_text())
elif args[0] == "--signal=INT":
    if (here / "handles_int").exists():
        state.write_text("COMPLETED")
else:
    state.write_text("CANCELLED")
"""


class Slurm:
    """The stand-ins' folder: set the job's state, read the recorded calls."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def set(self, state: str, handles_int: bool = False) -> None:
        (self.folder / "state").write_text(state)
        if handles_int:
            (self.folder / "handles_int").touch()

    def calls(self, program: str) -> list[list[str]]:
        lines = (self.folder / "calls.jsonl").read_text().splitlines()
        return [call for call in map(json.loads, lines) if call[0] == program]


@pytest.fixture
def slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Slurm:
    for program in ("scancel", "squeue"):
        script = tmp_path / program
        script.write_text(STANDIN.format(python=sys.executable))
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return Slurm(tmp_path)


def stop_job(previous: StopRecord | None = None, dry_run: bool = False) -> StopRecord:
    stopper = SlurmStopper(RecordingTransport(), FakeClock(), 120, dry_run, poll_seconds=5, verify_seconds=60)
    return stopper.stop(StopTarget(StopKind.SLURM, JOB), 0.0, previous, SaveLog(), "rule", "r")


def test_a_job_ignoring_sigint_is_cancelled(slurm: Slurm) -> None:
    slurm.set("RUNNING")
    record = stop_job()
    assert record.outcome is StopOutcome.STOPPED, record.detail
    assert [s.action for s in record.steps] == ["SIGINT", "scancel", "exited"]
    assert record.steps[1].at - record.steps[0].at >= 120
    assert slurm.calls("scancel") == [["scancel", "--signal=INT", JOB], ["scancel", JOB]]
    assert slurm.calls("squeue")[0] == ["squeue", "-h", "-j", JOB, "-o", "%T"]


def test_a_job_that_ends_on_sigint_is_not_cancelled(slurm: Slurm) -> None:
    slurm.set("RUNNING", handles_int=True)
    record = stop_job()
    assert record.outcome is StopOutcome.STOPPED
    assert [s.action for s in record.steps] == ["SIGINT", "exited"]
    assert slurm.calls("scancel") == [["scancel", "--signal=INT", JOB]]
    assert record.detail.startswith(f"SIGINT to SLURM job {JOB} at ")


@pytest.mark.parametrize("state", ["PURGED", "COMPLETED", ""])
def test_a_finished_or_forgotten_job_is_already_gone(slurm: Slurm, state: str) -> None:
    slurm.set(state)
    assert stop_job().outcome is StopOutcome.ALREADY_GONE
    assert not (slurm.folder / "calls.jsonl").read_text().count("scancel")


def test_a_resumed_job_stop_does_not_repeat_sigint(slurm: Slurm) -> None:
    slurm.set("RUNNING")
    previous = StopRecord(StopTarget(StopKind.SLURM, JOB), 0.0, "rule", "r", (StopStep("SIGINT", 0.0),))
    record = stop_job(previous)
    assert record.outcome is StopOutcome.STOPPED
    assert slurm.calls("scancel") == [["scancel", JOB]]


def test_slurm_dry_run_cancels_nothing(slurm: Slurm) -> None:
    slurm.set("RUNNING")
    assert stop_job(dry_run=True).outcome is StopOutcome.DRY_RUN
    assert slurm.calls("scancel") == []


def test_a_failing_scancel_is_recorded_as_failed(slurm: Slurm) -> None:
    slurm.set("RUNNING")
    (slurm.folder / "scancel").write_text("#!/bin/sh\necho 'scancel: error: Access denied' >&2\nexit 1\n")
    record = stop_job()
    assert record.outcome is StopOutcome.FAILED
    assert "Access denied" in record.detail


@pytest.mark.parametrize(
    ("kind", "kind_class"),
    [
        (StopKind.PID, SignalStopper),
        (StopKind.PGID, SignalStopper),
        (StopKind.TMUX, SessionStopper),
        (StopKind.SCREEN, SessionStopper),
        (StopKind.SLURM, SlurmStopper),
    ],
)
def test_the_factory_picks_the_stopper_and_finished_stops_run_nothing(
    kind: StopKind, kind_class: type
) -> None:
    transport = RecordingTransport()
    stopper = stopper_for(kind, transport, FakeClock(), 120, dry_run=False)
    assert isinstance(stopper, kind_class)
    target = StopTarget(kind, "4242")
    for outcome in FINAL:
        previous = StopRecord(target, 1.0, "rule", "r", (StopStep("x", 2.0),), outcome, "done.")
        saves = SaveLog()
        assert stopper.stop(target, 0.0, previous, saves, "rule", "r") is previous
        assert saves.records == []
    assert transport.calls == []
