"""`training-check action` as a runner starts it: a subprocess with the runner's environment,
against the GitHub stand-in, with a real process to stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from servers.github import ADMIN_TOKEN, BOT_TOKEN, DEFAULT_REPO, WORKFLOW, GitHubStandIn
from support.github_cycle import comments_on, tracking_issue
from support.runs import diverged, healthy, sleeper, write_log
from training_check.cron import current_cron, minute_offset


def runner_env(api: GitHubStandIn, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "WANDB_", "TRAINING_CHECK_"))}
    env.update(
        GITHUB_TOKEN=BOT_TOKEN,
        GITHUB_REPOSITORY=DEFAULT_REPO,
        GITHUB_API_URL=api.base_url,
        GITHUB_EVENT_NAME="schedule",
        GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"),
        TRAINING_CHECK_CONFIG=str(tmp_path / "training-check.yml"),
    )
    (tmp_path / "training-check.yml").write_text("actions:\n  grace_seconds: 5\n")
    return {**env, **extra}


def action(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "training_check.cli", "action"],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_scheduled_run_stops_the_bad_run_and_reports_to_the_runner(
    tmp_path: Path, github_standin: GitHubStandIn
) -> None:
    process = sleeper(tmp_path / "proc")
    try:
        bad = write_log(tmp_path / "bad.jsonl", diverged())
        good = write_log(tmp_path / "good.jsonl", healthy())
        tracking_issue(github_standin, [f"{{log: {bad}, stop: {{pid: {process.pid}}}}}", f"{{log: {good}}}"])
        done = action(runner_env(github_standin, tmp_path, WANDB_API_KEY="local-" + "k" * 40), tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert process.wait(timeout=20) == 0 and (tmp_path / "proc" / "got_SIGINT").exists()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    lines = (tmp_path / "output").read_text().splitlines()
    outputs = dict(line.split("=", 1) for line in lines)
    assert json.loads(outputs["verdicts"]) == {"bad": "bad", "good": "fine"}
    assert json.loads(outputs["stopped"]) == ["bad"]
    summary = (tmp_path / "summary.md").read_text()
    assert "| bad |" in summary and "stopped" in summary and "training-check:state" not in summary
    assert f"::add-mask::{BOT_TOKEN}" in done.stdout
    assert "::add-mask::local-" in done.stdout
    assert "::error title=training-check bad::" in done.stdout
    assert BOT_TOKEN not in done.stdout.replace(f"::add-mask::{BOT_TOKEN}", "")


def test_a_comment_that_is_no_command_exits_without_a_request(tmp_path: Path, github_standin: GitHubStandIn) -> None:
    issue = tracking_issue(github_standin, [])
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "created", "issue": {"number": issue.number, "labels": []},
                                 "comment": {"id": 1, "body": "thanks, looks good"}}))  # fmt: skip
    github_standin.clear_requests()
    env = runner_env(github_standin, tmp_path, GITHUB_EVENT_NAME="issue_comment", GITHUB_EVENT_PATH=str(event))
    done = action(env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert github_standin.calls() == []
    assert not (tmp_path / "output").exists()


def test_a_bad_config_is_one_error_annotation_and_stops_nothing(tmp_path: Path, github_standin: GitHubStandIn) -> None:
    env = runner_env(github_standin, tmp_path)
    (tmp_path / "training-check.yml").write_text("checks:\n  spike_factor: -3\n")
    github_standin.clear_requests()
    done = action(env, tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "checks.spike_factor" in errors[0] and "a number >= 0" in errors[0]
    assert "the config is wrong" in (tmp_path / "summary.md").read_text()
    assert github_standin.calls() == []


def workflow_file(api: GitHubStandIn) -> tuple[str, list[str]]:
    with api.lock:
        file = api.repo().files[WORKFLOW]
        return file.content.decode(), list(file.commits)


def test_the_cron_follows_the_runs_only_with_a_workflow_token(tmp_path: Path, github_standin: GitHubStandIn) -> None:
    good = write_log(tmp_path / "good.jsonl", healthy())
    tracking_issue(github_standin, [f"{{log: {good}}}"])
    before, _ = workflow_file(github_standin)

    done = action(runner_env(github_standin, tmp_path), tmp_path)  # GITHUB_TOKEN only: may not edit workflows
    assert done.returncode == 0, done.stdout + done.stderr
    assert workflow_file(github_standin)[0] == before
    dashboard = next(c.body for c in comments_on(github_standin, 1) if c.body.startswith("<!-- training-check:dash"))
    assert "workflow-token" in dashboard  # said once, in the dashboard

    done = action(runner_env(github_standin, tmp_path, TRAINING_CHECK_WORKFLOW_TOKEN=ADMIN_TOKEN), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    after, commits = workflow_file(github_standin)
    minute = minute_offset(DEFAULT_REPO)
    assert current_cron(after) == f"{minute}-59/10 * * * *"
    changed = [(b, a) for b, a in zip(before.splitlines(), after.splitlines(), strict=True) if b != a]
    assert changed == [('    - cron: "*/30 * * * *"', f'    - cron: "{minute}-59/10 * * * *"')]
    assert commits[-1] == f"training-check: run every 10 minutes (`{minute}-59/10 * * * *`) to follow the watched runs"
    print("cron rewrite:", changed)

    github_standin.clear_requests()
    action(runner_env(github_standin, tmp_path, TRAINING_CHECK_WORKFLOW_TOKEN=ADMIN_TOKEN), tmp_path)
    assert github_standin.calls("PUT") == []  # unchanged: no commit
