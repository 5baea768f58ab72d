"""The action's own `run:` steps, executed with bash as a runner executes them: the env each
step declares (inputs substituted), the variables a runner sets, against the GitHub stand-in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from servers.github import BOT_TOKEN, DEFAULT_REPO, GitHubStandIn
from support.github_cycle import tracking_issue
from support.runs import diverged, sleeper, write_log

ROOT = Path(__file__).resolve().parents[2]
EXPRESSION = re.compile(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}")


def steps() -> list[dict[str, Any]]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    return list(action["runs"]["steps"])


def run_step(step: dict[str, Any], inputs: dict[str, str], runner: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Bash with the step's `env:` (inputs substituted) on top of the runner's environment."""
    env = dict(runner)
    for name, value in (step.get("env") or {}).items():
        env[name] = EXPRESSION.sub(lambda m: inputs.get(m.group(1), ""), str(value))
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=runner["GITHUB_WORKSPACE"],
    )  # fmt: skip


def test_the_mask_and_check_steps_run_as_on_a_runner(tmp_path: Path, github_standin: GitHubStandIn) -> None:
    process = sleeper(tmp_path / "proc")
    try:
        log = write_log(tmp_path / "bad.jsonl", diverged())
        tracking_issue(github_standin, [f"{{log: {log}, stop: {{pid: {process.pid}}}}}"])
        (tmp_path / ".github").mkdir()
        (tmp_path / ".github" / "training-check.yml").write_text("actions:\n  grace_seconds: 5\n")
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"schedule": "17 */6 * * *"}))
        venv_bin = str(Path(sys.executable).parent)
        runner = {
            "PATH": f"{venv_bin}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
            "GITHUB_WORKSPACE": str(tmp_path),
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_REPOSITORY": DEFAULT_REPO,
            "GITHUB_API_URL": github_standin.base_url,
            "GITHUB_EVENT_NAME": "schedule",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
            "RUNNER_OS": "Linux",
        }
        inputs = {"github-token": BOT_TOKEN, "config": ".github/training-check.yml", "dry-run": "false"}
        by_name = {step.get("name"): step for step in steps() if "run" in step}
        masked = run_step(by_name["Mask the secrets"], inputs, runner)
        checked = run_step(by_name["Check the runs"], inputs, runner)
        assert masked.returncode == 0 and f"::add-mask::{BOT_TOKEN}" in masked.stdout
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert process.wait(timeout=20) == 0 and (tmp_path / "proc" / "got_SIGINT").exists()
    finally:
        if process.poll() is None:
            process.kill()
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    assert json.loads(outputs["stopped"]) == ["bad"]
    assert "| bad |" in (tmp_path / "summary").read_text()
    assert "::error title=training-check bad::" in checked.stdout
