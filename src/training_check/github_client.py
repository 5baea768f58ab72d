"""Connecting to GitHub: the PyGithub client from the Action's environment, its retry policy
and the bot's own login.

Retries: 5xx, 429 and rate-limited 403s are retried with backoff, honouring `retry-after`,
but never for long: one wait is at most `RetryPolicy.max_wait` and all the waits of one
client together at most `RetryPolicy.total_wait`. A scheduled Action that sleeps an hour on
a rate limit helps nobody; failing fast lets the next cycle try again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.Repository import Repository
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from .errors import TrainingCheckError

DEFAULT_API_URL = "https://api.github.com"
ACTIONS_BOT = "github-actions[bot]"  # who comments with the Actions GITHUB_TOKEN
BOT_LOGIN_ENV = "TRAINING_CHECK_BOT_LOGIN"
PER_PAGE = 100  # GitHub's most: fewer pages, fewer requests


@dataclass(frozen=True)
class GitHubSettings:
    """Where and as whom to talk to GitHub (`api_url` may be a GitHub Enterprise Server's)."""

    token: str = field(repr=False)
    repository: str  # owner/name
    api_url: str = DEFAULT_API_URL
    bot_login: str | None = None  # None: found from the token

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubSettings:
        """GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL and TRAINING_CHECK_BOT_LOGIN."""
        token = env.get("GITHUB_TOKEN", "").strip()
        if not token:
            raise TrainingCheckError(
                "GITHUB_TOKEN is not set, so GitHub cannot be reached.",
                tip="In the workflow: `env: {GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}}`.",
            )
        repository = env.get("GITHUB_REPOSITORY", "").strip()
        owner, _, name = repository.partition("/")
        if not owner or not name or "/" in name:
            raise TrainingCheckError(
                f"GITHUB_REPOSITORY must be owner/name, not {repository!r}.",
                tip="GitHub Actions sets it; elsewhere set it yourself, e.g. `octo-org/trainer`.",
            )
        api_url = env.get("GITHUB_API_URL", "").strip().rstrip("/") or DEFAULT_API_URL
        return cls(token, repository, api_url, env.get(BOT_LOGIN_ENV, "").strip() or None)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try again (seconds). Tests use tiny waits."""

    retries: int = 4
    backoff: float = 2.0  # urllib3 backoff factor: 0 s, 4 s, 8 s … after consecutive failures
    max_wait: float = 20.0  # one wait, retry-after included; a longer one fails at once
    total_wait: float = 60.0  # all waits of one client

    def retry(self) -> BoundedRetry:
        """The urllib3 retry object PyGithub takes as `retry=`."""
        return BoundedRetry(
            max_wait=self.max_wait,
            budget=WaitBudget(self.total_wait),
            total=self.retries,
            backoff_factor=self.backoff,
            backoff_max=self.max_wait,
            status_forcelist=[429, *range(500, 600)],  # GithubRetry adds 403, then reads its message
            allowed_methods=frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"}),
            raise_on_status=False,  # out of tries: PyGithub gets the last answer and raises its own error
            respect_retry_after_header=True,
        )


class WaitBudget:
    """Seconds of waiting left to one client, shared by every retry object urllib3 derives."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self._lock = threading.Lock()

    def spend(self, seconds: float) -> bool:
        """Take `seconds` from the budget; False (and nothing taken) when they are not left."""
        with self._lock:
            if seconds > self.left:
                return False
            self.left -= seconds
            return True


class BoundedRetry(GithubRetry):
    """GithubRetry (which knows GitHub's rate-limit answers) with a cap on every wait."""

    def __init__(self, *, max_wait: float = 20.0, budget: WaitBudget | None = None, **kwargs: Any) -> None:
        self.max_wait = max_wait
        self.budget = budget or WaitBudget(60.0)
        kwargs.setdefault("secondary_rate_wait", max_wait)  # GitHub's advice is 60 s; we cap it
        kwargs.setdefault("max_rate_limit_wait", max_wait)  # a primary limit resets within the hour
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> BoundedRetry:
        """urllib3 makes a new object for every try: pass the cap and the shared budget on."""
        kw.update(max_wait=self.max_wait, budget=self.budget)
        made = super().new(**kw)
        assert isinstance(made, BoundedRetry)
        return made

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Retry:
        """The next try, unless its wait is too long or the budget is spent: then give up, and
        (with raise_on_status off) PyGithub raises its usual error for the last answer."""
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # type: ignore[arg-type]
        wait = _next_wait(retry, response)
        if wait > self.max_wait or not self.budget.spend(wait):
            raise MaxRetryError(_pool, url or "", error)  # type: ignore[arg-type]
        return retry


def _next_wait(retry: Retry, response: BaseHTTPResponse | None) -> float:
    """What `Retry.sleep` will wait: the answer's retry-after if it has one, else the backoff."""
    if response is not None and retry.respect_retry_after_header:
        after = retry.get_retry_after(response)
        if after:
            return after
    return retry.get_backoff_time()


@dataclass(frozen=True)
class Connection:
    """A client, the repository (not fetched: PyGithub is lazy) and who the bot is."""

    github: Github = field(repr=False)
    repo: Repository = field(repr=False)
    repository: str
    bot_login: str


def connect(
    settings: GitHubSettings, policy: RetryPolicy | None = None, paced: bool = True, timeout: int = 30
) -> Connection:
    """The PyGithub client for `settings`; `paced` keeps PyGithub's pause between writes,
    which GitHub asks of integrations (tests turn it off)."""
    pacing = {} if paced else {"seconds_between_requests": 0, "seconds_between_writes": 0}
    github = Github(
        base_url=settings.api_url,
        auth=Auth.Token(settings.token),
        retry=(policy or RetryPolicy()).retry(),
        per_page=PER_PAGE,
        timeout=timeout,
        lazy=True,  # objects are fetched only when a missing attribute is read: no wasted GETs
        **pacing,  # type: ignore[arg-type]
    )
    repo = github.get_repo(settings.repository)
    return Connection(github, repo, settings.repository, bot_login(github, settings))


def bot_login(github: Github, settings: GitHubSettings) -> str:
    """The login the bot's comments carry: the override, else `github-actions[bot]` for an
    installation token (GITHUB_TOKEN, `ghs_…`; another App's token needs the override), else
    the token's user (GET /user)."""
    if settings.bot_login:
        return settings.bot_login
    if settings.token.startswith("ghs_"):
        return ACTIONS_BOT  # GET /user answers 403 for these: save the request
    try:
        return github.get_user().login
    except GithubException as e:
        if e.status == 401:
            raise TrainingCheckError(
                "GitHub refused the token (401 Bad credentials).", tip="Check the secret behind GITHUB_TOKEN."
            ) from None
        if e.status in (403, 404):
            return ACTIONS_BOT  # an integration token that may not read /user
        raise TrainingCheckError(f"Cannot ask GitHub who the bot is: {describe_error(e)}") from None


def describe_error(error: GithubException) -> str:
    """A GitHub error in one line: the status and GitHub's message (never the token)."""
    data = error.data
    message = data.get("message") if isinstance(data, dict) else data
    return f"HTTP {error.status}: {message or 'no message'}"


@contextmanager
def github_call(what: str) -> Iterator[None]:
    """Turn a failed GitHub request into a TrainingCheckError saying what could not be done."""
    try:
        yield
    except GithubException as e:
        raise TrainingCheckError(f"GitHub: cannot {what} ({describe_error(e)}).") from None
    except requests.RequestException as e:  # no answer at all, or out of retries
        raise TrainingCheckError(f"GitHub: cannot {what} ({type(e).__name__}: {str(e)[:200]}).") from None


def event_from_env(env: Mapping[str, str]) -> dict[str, Any] | None:
    """The `issue_comment` webhook payload of this run (GITHUB_EVENT_PATH), or None for
    other triggers."""
    if env.get("GITHUB_EVENT_NAME") != "issue_comment" or not env.get("GITHUB_EVENT_PATH"):
        return None
    path = env["GITHUB_EVENT_PATH"]
    try:
        with open(path, encoding="utf-8") as f:
            event = json.load(f)
    except (OSError, ValueError) as e:
        raise TrainingCheckError(f"Cannot read the event payload {path}: {e}") from e
    return event if isinstance(event, dict) else None
