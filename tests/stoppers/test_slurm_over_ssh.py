"""SlurmStopper over SSH: stand-in `scancel` and `squeue` first on the PATH of the SSH host.

A server of its own puts the stand-ins' folder first on the PATH of remote commands with
sshd's `SetEnv` (server-side: the client sends no environment), so the stopper finds them
exactly as it would find SLURM's tools on a login node.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.sshd import SSHD, ClientKeys, SSHServer
from stoppers.helpers import SaveLog
from stoppers.test_slurm import JOB, STANDIN, Slurm
from support.clock import FakeClock
from training_check.model import StopKind, StopOutcome, StopTarget
from training_check.stoppers import SlurmStopper
from training_check.transport.ssh import SSHTransport


@pytest.fixture
def slurm(tmp_path: Path) -> Slurm:
    folder = tmp_path / "slurm"
    folder.mkdir()
    for program in ("scancel", "squeue"):
        script = folder / program
        script.write_text(STANDIN.format(python=sys.executable))
        script.chmod(0o755)
    return Slurm(folder)


@pytest.fixture
def login_node(tmp_path: Path, ssh_keys: ClientKeys, slurm: Slurm) -> Iterator[SSHTransport]:
    if not SSHD.exists():
        pytest.fail(f"{SSHD} is missing", pytrace=False)
    server = SSHServer(tmp_path / "sshd", ssh_keys.authorized(), path_prefix=slurm.folder)
    server.start()
    try:
        host = server.host("login")
        with SSHTransport(host, {host.name: host}, server.environ(ssh_keys.ed25519)) as transport:
            yield transport
    finally:
        server.stop()


def test_the_stand_ins_come_first_on_the_remote_path(login_node: SSHTransport, slurm: Slurm) -> None:
    result = login_node.run(["sh", "-c", "command -v scancel"])
    assert result.stdout.strip() == str(slurm.folder / "scancel")


def test_a_job_ignoring_sigint_is_cancelled_over_ssh(login_node: SSHTransport, slurm: Slurm) -> None:
    slurm.set("RUNNING")
    stopper = SlurmStopper(login_node, FakeClock(), 120, poll_seconds=5, verify_seconds=60)
    record = stopper.stop(StopTarget(StopKind.SLURM, JOB), 0.0, None, SaveLog(), "rule", "r")
    assert record.outcome is StopOutcome.STOPPED, record.detail
    assert [s.action for s in record.steps] == ["SIGINT", "scancel", "exited"]
    assert record.steps[1].at - record.steps[0].at >= 120
    assert slurm.calls("scancel") == [["scancel", "--signal=INT", JOB], ["scancel", JOB]]
    assert slurm.calls("squeue")[0] == ["squeue", "-h", "-j", JOB, "-o", "%T"]
