"""Connecting to GitHub: settings from the environment, the bot's login, the event payload,
and retries (5xx, 403 and 429 with retry-after) with bounded waits, against the stand-in.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from servers.github import ADMIN_TOKEN, BOT_TOKEN, DEFAULT_REPO, Fault, GitHubStandIn
from support.clock import FakeClock
from support.github_cycle import cycle, dashboards, tracking_issue
from training_check.errors import TrainingCheckError
from training_check.github_client import (
    ACTIONS_BOT,
    DEFAULT_API_URL,
    GitHubSettings,
    RetryPolicy,
    connect,
    event_from_env,
)

ISSUES = f"/repos/{DEFAULT_REPO}/issues"


def test_settings_come_from_the_actions_environment() -> None:
    env = {"GITHUB_TOKEN": "ghs_x", "GITHUB_REPOSITORY": "octo-org/trainer"}
    settings = GitHubSettings.from_env(env)
    assert (settings.api_url, settings.repository, settings.bot_login) == (DEFAULT_API_URL, "octo-org/trainer", None)
    assert "ghs_x" not in repr(settings)
    enterprise = GitHubSettings.from_env(
        {**env, "GITHUB_API_URL": "https://ghe.example.com/api/v3/", "TRAINING_CHECK_BOT_LOGIN": "ci-bot"}
    )
    assert (enterprise.api_url, enterprise.bot_login) == ("https://ghe.example.com/api/v3", "ci-bot")
    with pytest.raises(TrainingCheckError, match="GITHUB_TOKEN is not set"):
        GitHubSettings.from_env({"GITHUB_REPOSITORY": "octo-org/trainer"})
    with pytest.raises(TrainingCheckError, match="owner/name"):
        GitHubSettings.from_env({**env, "GITHUB_REPOSITORY": "trainer"})


def test_the_bot_login_costs_no_request_for_installation_tokens(github_standin: GitHubStandIn) -> None:
    api = github_standin
    quiet = RetryPolicy(retries=0)
    assert connect(GitHubSettings(BOT_TOKEN, DEFAULT_REPO, api.base_url), quiet, paced=False).bot_login == ACTIONS_BOT
    # a personal token's own login would come from GET /user; the override saves the request
    override = GitHubSettings(ADMIN_TOKEN, DEFAULT_REPO, api.base_url, bot_login="alice")
    assert connect(override, quiet, paced=False).bot_login == "alice"
    assert api.requests == []  # the repository is not fetched either: PyGithub is lazy


def test_the_event_payload_is_read_for_comment_triggers(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"action": "created", "comment": {"id": 7}}))
    env = {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(path)}
    assert event_from_env(env) == {"action": "created", "comment": {"id": 7}}
    assert event_from_env({**env, "GITHUB_EVENT_NAME": "schedule"}) is None
    path.write_text("{not json")
    with pytest.raises(TrainingCheckError, match="event payload"):
        event_from_env(env)


def test_server_errors_are_retried(github_standin: GitHubStandIn) -> None:
    api = github_standin
    issue = tracking_issue(api, ["{log: /data/a.jsonl}"])
    api.inject(Fault.server_error(500), times=2, method="GET", path=ISSUES)
    api.inject(Fault.server_error(502), times=1, method="POST", path=f"{ISSUES}/*/comments")

    cycle(api, FakeClock())

    assert len(api.calls("GET", ISSUES)) == 3
    assert len(api.calls("POST", f"{ISSUES}/{issue.number}/comments")) == 2
    assert len(dashboards(api, issue.number)) == 1


@pytest.mark.parametrize("fault", [Fault.rate_limited(retry_after=1), Fault.too_many_requests(retry_after=1)])
def test_rate_limits_are_waited_out_as_retry_after_says(github_standin: GitHubStandIn, fault: Fault) -> None:
    api = github_standin
    issue = tracking_issue(api, ["{log: /data/a.jsonl}"])
    api.inject(fault, method="GET", path=ISSUES)
    started = time.monotonic()

    cycle(api, FakeClock())

    assert time.monotonic() - started >= 1.0
    assert len(api.calls("GET", ISSUES)) == 2
    assert len(dashboards(api, issue.number)) == 1


def test_long_waits_fail_fast_with_a_clear_error(github_standin: GitHubStandIn) -> None:
    api = github_standin
    tracking_issue(api, ["{log: /data/a.jsonl}"])
    api.inject(Fault.rate_limited(retry_after=600), method="GET", path=ISSUES)  # beyond the 2 s cap of the tests
    started = time.monotonic()
    with pytest.raises(TrainingCheckError, match=r"cannot list the open issues .*HTTP 403: You have exceeded"):
        cycle(api, FakeClock())
    assert time.monotonic() - started < 1.0 and len(api.calls("GET", ISSUES)) == 1

    api.inject(Fault.server_error(503), times=10, method="GET", path=ISSUES)
    with pytest.raises(TrainingCheckError, match="HTTP 503"):
        cycle(api, FakeClock())
    assert len(api.calls("GET", ISSUES)) == 1 + 4  # the first try and 3 retries
    api.faults.clear()
