"""`training-check action`: one check cycle as the GitHub Action runs it.

Everything comes from environment variables (the action passes its inputs through `env:`);
the results go where a runner looks for them: `$GITHUB_OUTPUT` (`verdicts`, `stopped`),
`$GITHUB_STEP_SUMMARY` (the dashboard), and workflow commands on stdout (`::add-mask::`,
one `::error::` or `::warning::` per bad or unsure run).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from .clock import Clock, SystemClock
from .config import DEFAULT_PATH, ActionSettings, Config, load_config
from .cron_sync import sync_cron, wanted_cron
from .cycle import CycleReport, run_cycle
from .errors import TrainingCheckError
from .github_client import GitHubSettings, connect, event_from_env
from .model import Verdict
from .trackers.github_issue import GitHubTracker
from .transport.pool import TransportPool
from .watching import active_runs
from .wiring import build_parts

# Secrets the action may hold; each is masked in the log before anything else is printed.
SECRET_VARIABLES = ("GITHUB_TOKEN", "TRAINING_CHECK_WORKFLOW_TOKEN", "WANDB_API_KEY", "OPENAI_API_KEY")
CACHE = Path(".training-check-cache")


def escape_command(text: str) -> str:
    """A value for a workflow command (`%`, CR and LF must be encoded)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def mask_secrets(config: Config | None, environ: Mapping[str, str], out: TextIO) -> None:
    """`::add-mask::` every secret value (multi-line keys line by line)."""
    names = list(SECRET_VARIABLES)
    if config is not None:
        for host in config.hosts.values():
            names += [n for n in (host.key_env, host.known_hosts_env) if n]
    for name in names:
        for line in environ.get(name, "").splitlines():
            if line.strip():
                out.write(f"::add-mask::{line.strip()}\n")


def unrelated_comment(environ: Mapping[str, str], event: Mapping[str, Any] | None, label: str) -> bool:
    """An `issue_comment` that cannot be a command for us: exit without writing anything."""
    if environ.get("GITHUB_EVENT_NAME") != "issue_comment" or event is None:
        return False
    body = str((event.get("comment") or {}).get("body") or "")
    if not body.lstrip().startswith("/"):
        return True
    issue = event.get("issue") or {}
    on_pull_request = bool(issue.get("pull_request"))
    labels = {str(item.get("name")) for item in issue.get("labels") or [] if isinstance(item, dict)}
    return not on_pull_request and label not in labels


def config_from_env(environ: Mapping[str, str]) -> Config:
    """The config file (defaults when the conventional one is absent), dry run applied."""
    path = environ.get("TRAINING_CHECK_CONFIG", "").strip() or DEFAULT_PATH
    config = load_config(path) if Path(path).exists() or path != DEFAULT_PATH else Config()
    if environ.get("TRAINING_CHECK_DRY_RUN", "").strip().lower() == "true":
        config = dataclasses.replace(config, actions=ActionSettings(False, config.actions.grace_seconds))
    return config


def write_results(report: CycleReport, environ: Mapping[str, str], out: TextIO) -> None:
    """Outputs, job summary and one annotation per bad or unsure run."""
    verdicts = {name: run.last_verdict.value for name, run in report.state.runs.items() if run.last_verdict}
    if "GITHUB_OUTPUT" in environ:
        with open(environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(f"verdicts={json.dumps(verdicts, sort_keys=True)}\n")
            f.write(f"stopped={json.dumps(list(report.stopped))}\n")
    if "GITHUB_STEP_SUMMARY" in environ:
        with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
            f.write(report.dashboard.split("<!-- training-check:state", 1)[0])
    for view in report.views:
        if view.judgment is None or view.judgment.verdict is Verdict.FINE:
            continue
        level = "error" if view.judgment.verdict is Verdict.BAD else "warning"
        reason = view.status_detail or view.status.value
        out.write(f"::{level} title=training-check {escape_command(view.name)}::{escape_command(reason)}\n")


def run_action(environ: Mapping[str, str], out: TextIO, clock: Clock | None = None) -> int:
    """One cycle on GitHub; the exit code says whether it could run at all (`clock`: tests)."""
    mask_secrets(None, environ, out)
    try:
        config = config_from_env(environ)
    except TrainingCheckError as e:
        out.write(f"::error title=training-check config::{escape_command(e.message + ' ' + (e.tip or ''))}\n")
        if "GITHUB_STEP_SUMMARY" in environ:
            with open(environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as f:
                f.write(f"### training-check: the config is wrong\n\n{e.message}\n\n{e.tip or ''}\n")
        return 1  # nothing is stopped on a bad config
    mask_secrets(config, environ, out)
    event = event_from_env(environ)
    if unrelated_comment(environ, event, config.tracking_issue.label):
        out.write("training-check: this comment is not a command for it; nothing to do.\n")
        return 0
    force = [r.strip() for r in environ.get("TRAINING_CHECK_RUN", "").split(",") if r.strip()]
    try:
        tracker = GitHubTracker.from_env(environ, config.tracking_issue.label)
        with TransportPool(config, environ) as pool:
            parts = build_parts(config, tracker, clock or SystemClock(), pool, environ=environ, cache=CACHE)
            report = run_cycle(parts, force=force, event=event)
        if config.schedule.rewrite_cron:
            follow_runs(report, tracker, config, environ, out)
    except TrainingCheckError as e:
        out.write(f"::error title=training-check::{escape_command(e.message + ' ' + (e.tip or ''))}\n")
        return 1
    write_results(report, environ, out)
    return 0


def follow_runs(
    report: CycleReport, tracker: GitHubTracker, config: Config, environ: Mapping[str, str], out: TextIO
) -> None:
    """Rewrite the workflow's cron after the cycle; save the state again only if it changed."""
    settings = GitHubSettings.from_env(environ)
    token = environ.get("TRAINING_CHECK_WORKFLOW_TOKEN", "").strip()
    # The same bot, another token: its login is known, so no request asks for it.
    workflow = dataclasses.replace(settings, token=token, bot_login=tracker.connection.bot_login)
    repo = connect(workflow) if token else None
    active = active_runs(report.state, [view.name for view in report.views])
    wanted = wanted_cron(report.state, active, settings.repository)
    change = sync_cron(report.state, wanted, config.schedule.workflow, repo)
    if change.commit_message:
        out.write(f"training-check: {change.commit_message}\n")
    if change.state == report.state and change.notice is None:
        return
    dashboard = report.dashboard
    if change.notice:
        head, marker, tail = dashboard.partition("<!-- training-check:state")
        dashboard = f"{head.rstrip()}\n\n⚠️ {change.notice}\n{marker}{tail}"
    tracker.publish(dashboard, change.state)


def main_from_env() -> int:
    """Entry used by `training-check action`."""
    import sys  # noqa: PLC0415 - stdout is the runner's command channel

    return run_action(os.environ, sys.stdout)
