"""The product as it runs on GitHub, end to end: the action's cycle with the GitHub stand-in
(tracking issue, linked PR, workflow file), the W&B stand-in, the real sshd, and real trainer
processes on the "remote" host — one healthy, one diverging.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.github import ADMIN_TOKEN, BOT_TOKEN, DEFAULT_REPO, WORKFLOW, GitHubStandIn
from servers.sshd import KEY_ENV, KNOWN_HOSTS_ENV, ClientKeys, SSHServer
from servers.wandb_server import WandbStandIn
from support.github_cycle import ShiftedClock, comments_on, dashboards, pull_request, replies, verdicts
from support.wandb_home import isolated_wandb
from training_check.action import run_action
from training_check.cron import current_cron, minute_offset

WANDB_KEY = "local-" + "E2e0nly" * 6


@pytest.fixture(autouse=True)
def wandb_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every W&B directory of this process in a temporary one, no helper left behind."""
    with isolated_wandb(tmp_path_factory.mktemp("wandb-home")):
        yield


def start_trainer(folder: Path, mode: str) -> subprocess.Popen[bytes]:
    """A real numpy trainer; the healthy one at a pace where it is still learning at the end."""
    log = folder / f"{mode}.jsonl"
    argv = [sys.executable, "-m", "training_check.demo_trainer", "--log", str(log), "--mode", mode]
    pace = "0.002" if mode == "diverge" else "0.006"
    return subprocess.Popen([*argv, "--step-seconds", pace], start_new_session=True)


def wait_for_rows(log: Path, rows: int) -> None:
    deadline = time.monotonic() + 30
    while not log.exists() or log.read_text().count("\n") < rows:
        assert time.monotonic() < deadline, f"{log} stayed short"
        time.sleep(0.05)


def workflow_cron(api: GitHubStandIn) -> str | None:
    with api.lock:
        return current_cron(api.repo().files[WORKFLOW].content.decode())


def test_the_product_on_github(
    tmp_path: Path,
    github_standin: GitHubStandIn,
    sshd: SSHServer,
    ssh_keys: ClientKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = github_standin
    monkeypatch.chdir(tmp_path)  # the action's history cache goes here
    trainers = {mode: start_trainer(tmp_path, mode) for mode in ("healthy", "diverge")}
    try:
        for mode in trainers:
            deadline = time.monotonic() + 30
            while (
                (tmp_path / f"{mode}.jsonl").read_text().count("\n") < 900
                if (tmp_path / f"{mode}.jsonl").exists()
                else True
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        pull = pull_request(api)
        config = tmp_path / "training-check.yml"
        host = sshd.host("gpu1")
        config.write_text(
            f"hosts:\n  gpu1:\n    hostname: {host.hostname}\n    port: {host.port}\n    user: {host.user}\n"
            f"    key_env: {KEY_ENV}\n    known_hosts_env: {KNOWN_HOSTS_ENV}\n"
            "actions:\n  grace_seconds: 10\n"
        )
        body = (
            "Runs of the LR sweep.\n\n```yaml\nruns:\n"
            f"  - {{name: good, host: gpu1, log: {tmp_path}/healthy.jsonl,"
            f" stop: {{pgid: {trainers['healthy'].pid}}}}}\n"
            f"  - {{name: bad, wandb: team/sweep/bad1, host: gpu1, log: {tmp_path}/diverge.jsonl,"
            f" stop: {{pgid: {trainers['diverge'].pid}}}, pr: {pull.number}}}\n```\n"
        )
        issue = api.add_issue("Training runs", body, labels=("training-check",))
        with WandbStandIn(api_key=WANDB_KEY) as wandb_api:
            wandb_api.add_run("team", "sweep", "bad1")
            env = {
                **sshd.environ(ssh_keys.ed25519),
                "GITHUB_TOKEN": BOT_TOKEN,
                "TRAINING_CHECK_WORKFLOW_TOKEN": ADMIN_TOKEN,
                "GITHUB_REPOSITORY": DEFAULT_REPO,
                "GITHUB_API_URL": api.base_url,
                "GITHUB_EVENT_NAME": "schedule",
                "GITHUB_OUTPUT": str(tmp_path / "output"),
                "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
                "TRAINING_CHECK_CONFIG": str(config),
                "WANDB_API_KEY": WANDB_KEY,
                "WANDB_BASE_URL": wandb_api.base_url,
            }
            clock = ShiftedClock()
            out = io.StringIO()

            # The scheduled cycle: only the bad run is stopped, over SSH, SIGINT first.
            assert run_action(env, out, clock) == 0, out.getvalue()
            assert trainers["diverge"].wait(timeout=30) == 0
            assert (tmp_path / "diverge.jsonl.sigint").exists()
            assert trainers["healthy"].poll() is None
            (bad_verdict,) = [c.body for c in verdicts(api, issue.number) if "run=bad" in c.body]
            assert "`bad` stopped" in bad_verdict and "SIGINT to process group" in bad_verdict
            assert any("run=bad" in c.body for c in verdicts(api, pull.number))
            with api.lock:
                statuses = [(s.context, s.state) for s in api.repo().statuses if s.sha == pull.head_sha]
            assert statuses[-1] == ("training-check/bad", "failure")
            assert len(dashboards(api, issue.number)) == 1
            assert workflow_cron(api) == f"{minute_offset(DEFAULT_REPO)}-59/10 * * * *"
            notes = wandb_api.run("team", "sweep", "bad1")
            assert "training-check:stopped" in notes.tags

            # Later healthy cycles lengthen the cron (a real trainer may look unsure at some
            # check, which rightly resets it to 10 minutes: allow a few more cycles for that).
            seen = []
            for _ in range(6):
                clock.advance(31 * 60)
                assert run_action(env, out, clock) == 0
                seen.append(workflow_cron(api))
                if seen[-1] == f"{minute_offset(DEFAULT_REPO)}-59/30 * * * *":
                    break
            assert f"{minute_offset(DEFAULT_REPO)}-59/20 * * * *" in seen, seen
            assert seen[-1] == f"{minute_offset(DEFAULT_REPO)}-59/30 * * * *", seen

            # A stranger's /stop is refused; /snooze then /stop by people with write access behave.
            api.add_comment(issue.number, "/stop good", login="mallory")
            api.add_comment(issue.number, "/snooze all 2h", login="carol")
            clock.advance(60)
            assert run_action(env, out, clock) == 0
            assert trainers["healthy"].poll() is None
            assert any("permission" in c.body.lower() for c in replies(api, issue.number))
            assert "⏸ snoozed" in dashboards(api, issue.number)[0].body
            api.add_comment(issue.number, "/stop good finished the sweep", login="carol")
            clock.advance(60)
            assert run_action(env, out, clock) == 0
            assert trainers["healthy"].wait(timeout=30) == 0
            assert (tmp_path / "healthy.jsonl.sigint").exists()

        everything = out.getvalue() + "".join(c.body for c in comments_on(api, issue.number))
        everything += (tmp_path / "summary").read_text() + (tmp_path / "output").read_text()
        for secret in (BOT_TOKEN, ADMIN_TOKEN, WANDB_KEY, ssh_keys.ed25519.secret_body):
            assert secret not in everything.replace(f"::add-mask::{secret}", "")
    finally:
        for process in trainers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
