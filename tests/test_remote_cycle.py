"""Remote runs end to end: a real wandb-offline trainer on the "remote" host (the loopback
sshd), its `.wandb` log read over SFTP while it is being written, the run stopped over SSH
(SIGINT first), and the evidence written to the W&B stand-in; W&B down -> the log over SSH;
everything down -> "unreachable", no stop, interval back to 10 minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.sshd import ClientKeys, SSHServer
from servers.wandb_server import Close, Status, WandbStandIn
from support.wandb_home import isolated_wandb
from training_check.clock import SystemClock
from training_check.config import ActionSettings, Config
from training_check.cycle import run_cycle
from training_check.model import StopOutcome, Verdict
from training_check.trackers import LocalTracker
from training_check.transport.pool import TransportPool
from training_check.wiring import build_parts

KEY = "local-" + "Rem0te" * 7
TRAINER = Path(__file__).parent / "support" / "wandb_trainer.py"


@pytest.fixture(scope="module", autouse=True)
def wandb_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every W&B directory of this process in a temporary one, no helper left behind."""
    with isolated_wandb(tmp_path_factory.mktemp("wandb-home")):
        yield


@pytest.fixture
def trainer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The wandb-offline trainer, diverging at step 300, in its own process group."""
    folder = tmp_path / "remote-run"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    process = subprocess.Popen(
        [sys.executable, str(TRAINER), str(folder), "--diverge-at", "300", "--step-seconds", "0.01"],
        start_new_session=True,
        env=env,
    )
    yield process, folder
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def setup(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    sshd: SSHServer,
    keys: ClientKeys,
    *,
    wandb_url: str,
    log: str,
    pid: int,
    ssh_port: int | None = None,
):
    host = sshd.host("box") if ssh_port is None else sshd.host("box", port=ssh_port)
    config = Config(hosts={"box": host}, actions=ActionSettings(grace_seconds=10.0))
    environ = {**sshd.environ(keys.ed25519), "WANDB_API_KEY": KEY, "WANDB_BASE_URL": wandb_url}
    watch = tmp_path / "watch.md"
    watch.write_text(
        "```yaml\nruns:\n"
        f"  - {{wandb: team/remote/r1, name: remote, host: box, log: {log}, stop: {{pid: {pid}}}}}\n```\n"
    )
    pool = TransportPool(config, environ)
    parts = build_parts(config, LocalTracker(watch), SystemClock(), pool, environ=environ, cache=tmp_path / "cache")
    return parts, pool


def test_wandb_offline_run_read_over_sftp_stopped_over_ssh_with_evidence(
    tmp_path: Path, sshd: SSHServer, ssh_keys: ClientKeys, trainer: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, folder = trainer
    wait_for((folder / "wandb_path").exists)
    log = (folder / "wandb_path").read_text()
    wait_for(lambda: Path(log).exists() and Path(log).stat().st_size > 4096)
    with WandbStandIn(api_key=KEY) as server:
        server.add_run("team", "remote", "r1")  # the run exists on W&B, but its history is not readable
        server.inject(Status(500), operation="RunHistoryKeys")
        parts, pool = setup(tmp_path, sshd, ssh_keys, wandb_url=server.base_url, log=log, pid=process.pid)

        with pool:
            first = run_cycle(parts)  # early: read over SFTP while the SDK writes
        assert first.state.run("remote").last_verdict is not Verdict.BAD, (first.notices, first.state.run("remote"))
        cursor = parts.store.load("remote", "sftp")[1]
        assert cursor is not None and cursor.offset > 0
        assert process.poll() is None

        wait_for(lambda: Path(log).stat().st_size > cursor.offset + 50_000)  # the run diverged meanwhile
        time.sleep(2.0)
        with pool:
            second = run_cycle(parts, force=("all",))

        run = second.state.run("remote")
        assert run.last_verdict is Verdict.BAD, run.last_reason
        assert second.stopped == ("remote",)
        stop = run.stop
        assert stop is not None and stop.outcome is StopOutcome.STOPPED
        assert next(s.action for s in stop.steps) == "SIGINT"
        assert process.wait(timeout=30) == 0  # it finished its W&B run and exited
        assert (folder / "SIGINT.count").exists()
        assert pool.connections <= 2  # one connection per host per cycle
        stored = server.run("team", "remote", "r1")
        assert stored.notes is not None and "training-check stopped remote" in stored.notes
        assert "training-check:stopped" in stored.tags
        verdict = dict(second.verdicts)["remote"]
        assert "Evidence saved to the W" in verdict and "training-check:stopped" in verdict, verdict
        everything = verdict + second.dashboard + "".join(second.notices)
        assert KEY not in everything and ssh_keys.ed25519.secret_body not in everything


def test_everything_down_is_unreachable_without_a_stop(
    tmp_path: Path, sshd: SSHServer, ssh_keys: ClientKeys, trainer: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, folder = trainer
    wait_for((folder / "wandb_path").exists)
    with WandbStandIn(api_key=KEY) as server:
        server.add_run("team", "remote", "r1")
        server.inject(Close())
        log = (folder / "wandb_path").read_text()
        parts, pool = setup(tmp_path, sshd, ssh_keys, wandb_url=server.base_url, log=log, pid=process.pid, ssh_port=1)
        with pool:
            report = run_cycle(parts)
    run = report.state.run("remote")
    assert run.last_error is not None and "sftp" in run.last_error
    assert run.interval_minutes == 10 and run.stop is None
    assert "(https://wandb.ai/team/remote/runs/r1) | ⚠️ unreachable: wandb: could not reach W" in report.dashboard
    assert "refused the connection" in report.dashboard
    assert process.poll() is None
