"""Keeping the workflow's own cron in step with the most urgent run (PRODUCT §11).

The cron is rewritten through the contents API only when it changes, with a token that
may edit workflow files (the default GITHUB_TOKEN may not). Without one the bot keeps
the cron, skips runs that are not due (due times are timestamps), and says once in the
dashboard how to enable rewriting.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, replace

from github.GithubException import GithubException

from .cron import cron_for, current_cron, rewrite_cron
from .github_client import Connection
from .state import State

UNMANAGED = "unmanaged"  # the state's cron when rewriting is not possible (notice given once)
HOW_TO_ENABLE = (
    "The workflow's schedule is not rewritten to follow the runs: give the action a `workflow-token` "
    "(a token allowed to edit workflow files, as the `TRAINING_CHECK_WORKFLOW_TOKEN` secret). "
    "Until then runs are checked when due at each scheduled run."
)


@dataclass(frozen=True)
class CronChange:
    """What the sync did: the new state, a notice for the dashboard, the commit made."""

    state: State
    notice: str | None = None
    commit_message: str | None = None


def wanted_cron(state: State, active: Iterable[str], repository: str) -> str:
    """The cron for the shortest interval among the active runs (dormant when none)."""
    intervals = [state.run(name).interval_minutes or 10 for name in active]
    return cron_for(intervals, repository)


def sync_cron(state: State, wanted: str, workflow_path: str, repo: Connection | None) -> CronChange:
    """Rewrite the workflow's cron to `wanted` if it differs; `repo` is None without a workflow token."""
    if state.cron == wanted:
        return CronChange(state)
    if repo is None:
        if state.cron == UNMANAGED:
            return CronChange(state)
        return CronChange(replace(state, cron=UNMANAGED), notice=HOW_TO_ENABLE)
    try:
        message = _rewrite(repo, workflow_path, wanted)
    except GithubException as e:
        why = "the token may not edit workflow files" if e.status in (403, 404) else f"HTTP {e.status}"
        return CronChange(state, notice=f"The workflow's cron could not be rewritten ({why}). {HOW_TO_ENABLE}")
    except ValueError as e:
        return CronChange(state, notice=f"The workflow's cron could not be rewritten: {e}.")
    return CronChange(replace(state, cron=wanted), commit_message=message)


def _rewrite(repo: Connection, workflow_path: str, wanted: str) -> str | None:
    """Commit the workflow with its cron set to `wanted`; None when it already was."""
    contents = repo.repo.get_contents(workflow_path)
    if isinstance(contents, list):
        raise ValueError(f"`{workflow_path}` is a folder, not the workflow file")
    text = base64.b64decode(contents.content).decode("utf-8")
    if current_cron(text) == wanted:
        return None
    message = f"training-check: run every {_describe(wanted)} to follow the watched runs"
    repo.repo.update_file(workflow_path, message, rewrite_cron(text, wanted), contents.sha)
    return message


def _describe(cron: str) -> str:
    minute, hour = cron.split()[:2]
    if "/" in minute:
        return f"{minute.split('/')[1]} minutes (`{cron}`)"
    if hour.startswith("*/"):
        return f"{hour[2:]} hours (`{cron}`)"
    return f"hour (`{cron}`)"
