"""A local stand-in for GitHub's REST API, so the real PyGithub client is tested offline.

    with GitHubStandIn() as api:                       # 127.0.0.1, a free port, its own thread
        api.add_repo("octo-org/trainer", roles={"alice": "admin"})
        api.add_token("ghp_x", "alice")
        gh = api.client("ghp_x")                       # Github(base_url=api.base_url, retry=None, …)
        gh.get_repo("octo-org/trainer").create_issue("Training runs")
        api.calls("POST", "/repos/*/issues")           # every request is recorded
        api.inject(Fault.server_error(502), times=2)   # the next two requests fail

It keeps one or more repositories in memory: issues and labels, issue comments and their
reactions, collaborator roles, commits with statuses, pull requests, files (contents API,
with the workflow-permission check) and a rate-limit budget per token. URLs in answers use
the request's `Host`, so links and pagination stay here. Every answer is validated against
GitHub's published OpenAPI description (openapi.py) before it is sent; a violation is
recorded and answered with HTTP 599.

The fixture `github_standin` (registered in tests/conftest.py) yields a started stand-in
with DEFAULT_REPO seeded (one user per role, BOT_TOKEN and ADMIN_TOKEN, the workflow file),
and fails the test at teardown when any response broke the spec, or when the code under
test called a GitHub endpoint the stand-in does not implement (rather than trust a 404).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .faults import Fault
from .openapi import Spec, load_spec
from .seed import ADMIN_TOKEN, BOT_TOKEN, DEFAULT_REPO, PEOPLE, WORKFLOW, WORKFLOW_TEXT
from .server import GitHubStandIn, Recorded

__all__ = [
    "ADMIN_TOKEN",
    "BOT_TOKEN",
    "DEFAULT_REPO",
    "PEOPLE",
    "WORKFLOW",
    "WORKFLOW_TEXT",
    "Fault",
    "GitHubStandIn",
    "Recorded",
    "Spec",
    "github_standin",
    "load_spec",
    "seed_default",
]


def seed_default(api: GitHubStandIn) -> None:
    """DEFAULT_REPO with one collaborator per role, the bot and admin tokens, the workflow file."""
    api.add_repo(DEFAULT_REPO, roles=PEOPLE, files={WORKFLOW: WORKFLOW_TEXT})
    api.add_token(BOT_TOKEN, "github-actions[bot]", kind="app", workflow=False)
    api.add_token(ADMIN_TOKEN, "alice", kind="pat", workflow=True)
    api.world.user("mallory")  # an account with no role at all


@pytest.fixture
def github_standin() -> Iterator[GitHubStandIn]:
    """A started, seeded stand-in; the test fails at teardown if a response broke GitHub's spec."""
    with GitHubStandIn() as api:
        seed_default(api)
        yield api
    if api.violations:
        pytest.fail(
            "the GitHub stand-in sent responses that break GitHub's OpenAPI spec (or lacks an endpoint):\n"
            + "\n".join(api.violations)
        )
