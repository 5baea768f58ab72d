"""Helpers of the GitHub tests: the real tracker on the stand-in, cycles with real processes,
a clock that can jump ahead, and looks at what the stand-in holds.
"""

from __future__ import annotations

import time
from typing import Any

from servers.github import BOT_TOKEN, DEFAULT_REPO, GitHubStandIn
from servers.github.state import Comment, Issue, Pull
from training_check.config import ActionSettings, Config
from training_check.cycle import CycleReport, Parts, run_cycle
from training_check.fetching import log_sources
from training_check.github_client import GitHubSettings, RetryPolicy, connect
from training_check.history_store import HistoryStore
from training_check.trackers.github_issue import DASHBOARD_MARKER, GitHubTracker
from training_check.transport import LocalTransport, Transport

LABEL = "training-check"
FAST = RetryPolicy(retries=3, backoff=0.0, max_wait=2.0, total_wait=5.0)  # tiny waits for tests
LOCAL = LocalTransport()


def local(host: str | None) -> Transport:
    return LOCAL


class ShiftedClock:
    """The real clock moved ahead by `advance`: sleeps are real (a stop waits for the trainer),
    and processes started now began before any time it shows."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def github_tracker(
    api: GitHubStandIn, token: str = BOT_TOKEN, policy: RetryPolicy = FAST, bot_login: str | None = None
) -> GitHubTracker:
    """The real PyGithub-backed tracker, talking to the stand-in."""
    settings = GitHubSettings(token, DEFAULT_REPO, api.base_url, bot_login)
    return GitHubTracker(connect(settings, policy, paced=False, timeout=10), LABEL)


def github_parts(tracker: GitHubTracker, clock: object, config: Config | None = None) -> Parts:
    """A cycle's parts: the GitHub tracker, local logs and processes, no reviewer."""
    config = config or Config(actions=ActionSettings(grace_seconds=2.0))
    return Parts(config, tracker, clock, None, local, log_sources(local), HistoryStore(None))  # type: ignore[arg-type]


def cycle(api: GitHubStandIn, clock: object, event: dict[str, Any] | None = None, **options: Any) -> CycleReport:
    """One cycle with a fresh client, as each Action run has."""
    return run_cycle(github_parts(github_tracker(api, **options), clock), event=event)


def tracking_issue(api: GitHubStandIn, runs: list[str], text: str = "Runs of the team.") -> Issue:
    """An open issue with the label and a watch list of `runs` (flow-style YAML items)."""
    return api.add_issue("Training runs", watch_body(runs, text), labels=(LABEL,))


def watch_body(runs: list[str], text: str = "Runs of the team.") -> str:
    items = "\n".join(f"  - {r}" for r in runs)
    return f"{text}\n\n```yaml\nruns:\n{items}\n```\n"


def pull_request(api: GitHubStandIn, head_ref: str = "bigger-lr") -> Pull:
    """An open pull request that, as on GitHub, is also an issue (its comments live there)."""
    pull = api.add_pull(head_ref=head_ref)
    with api.lock:
        repo, now = api.repo(), api.world.clock()
        repo.issues[pull.number] = Issue(next(api.world.ids), pull.number, pull.title, "", pull.user, now, now)
    return pull


def comments_on(api: GitHubStandIn, number: int) -> list[Comment]:
    """The comments of issue (or pull request) `number`, oldest first."""
    with api.lock:
        return sorted((c for c in api.repo().comments.values() if c.issue_number == number), key=lambda c: c.id)


def dashboards(api: GitHubStandIn, number: int, login: str = "github-actions[bot]") -> list[Comment]:
    """The bot's dashboard comments on the issue (there must be exactly one)."""
    return [c for c in comments_on(api, number) if c.user.login == login and c.body.startswith(DASHBOARD_MARKER)]


def verdicts(api: GitHubStandIn, number: int) -> list[Comment]:
    return [c for c in comments_on(api, number) if c.body.startswith("<!-- training-check:verdict")]


def replies(api: GitHubStandIn, number: int) -> list[Comment]:
    return [c for c in comments_on(api, number) if c.body.startswith("<!-- training-check:reply")]


def reactions(api: GitHubStandIn, comment: Comment) -> list[str]:
    """The bot's reactions on a comment, in order."""
    with api.lock:
        return [r.content for r in comment.reactions if r.user.login == "github-actions[bot]"]


def event_for(api: GitHubStandIn, comment: Comment, on_pull: bool = False) -> dict[str, Any]:
    """The `issue_comment: created` payload GitHub would send for `comment`."""
    issue: dict[str, Any] = {"number": comment.issue_number}
    if on_pull:
        issue["pull_request"] = {"url": f"{api.base_url}/repos/{DEFAULT_REPO}/pulls/{comment.issue_number}"}
    return {
        "action": "created",
        "issue": issue,
        "comment": {
            "id": comment.id,
            "body": comment.body,
            "user": {"login": comment.user.login, "type": comment.user.type},
            "created_at": comment.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": comment.updated_at.isoformat().replace("+00:00", "Z"),
        },
        "repository": {"full_name": DEFAULT_REPO},
    }


def requests_made(api: GitHubStandIn) -> list[str]:
    """The requests since the last `clear_requests`, as `METHOD path` lines."""
    with api.lock:
        return [f"{r.method} {r.path}" for r in api.requests]
