"""The stand-in's in-memory GitHub: users, tokens and repositories with what lives in them.

Plain dataclasses, mutated by the routes under the stand-in's lock. Objects keep only
their own facts; their JSON shapes (with URLs for the request's host) are built by
`objects.py`. Timestamps come from a ticking clock so that runs are deterministic and
every write is one second after the one before (the `since` filters need distinct times).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Literal

ROLES = ("admin", "maintain", "write", "triage", "read")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")
START = datetime(2025, 1, 1, tzinfo=timezone.utc)


class TickingClock:
    """Returns START, START+1s, START+2s, … one step per call: deterministic, always moving."""

    def __init__(self, start: datetime = START, step: timedelta = timedelta(seconds=1)) -> None:
        self._ticks: Iterator[int] = itertools.count()
        self.start, self.step = start, step

    def __call__(self) -> datetime:
        return self.start + next(self._ticks) * self.step


def git_blob_sha(content: bytes) -> str:
    """The sha git (and so GitHub's contents API) gives this file content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # git's own hash, not for security


@dataclass
class User:
    """A GitHub account; bots have type 'Bot'."""

    login: str
    id: int
    type: str = "User"


@dataclass(frozen=True)
class Token:
    """An access token. `kind` decides the wording of GitHub's refusal to edit workflows:
    an App token (GITHUB_TOKEN is one) needs the `workflows` permission, an OAuth or
    classic token the `workflow` scope."""

    value: str
    login: str
    kind: Literal["app", "oauth"] = "oauth"
    workflow: bool = True

    @property
    def scopes(self) -> str:
        """The `x-oauth-scopes` header GitHub sends back for OAuth tokens."""
        return "repo, workflow" if self.workflow else "repo"


@dataclass
class Label:
    id: int
    name: str
    color: str = "ededed"
    description: str | None = None


@dataclass
class Reaction:
    id: int
    user: User
    content: str
    created_at: datetime


@dataclass
class Comment:
    id: int
    issue_number: int
    user: User
    body: str
    created_at: datetime
    updated_at: datetime
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: User
    created_at: datetime
    updated_at: datetime
    labels: list[Label] = field(default_factory=list)
    state: str = "open"
    closed_at: datetime | None = None
    comments: int = 0


@dataclass
class Status:
    id: int
    sha: str
    state: str
    context: str
    description: str | None
    target_url: str | None
    creator: User
    created_at: datetime


@dataclass
class Commit:
    sha: str
    message: str
    date: datetime
    parents: list[str] = field(default_factory=list)


@dataclass
class Pull:
    id: int
    number: int
    title: str
    user: User
    head_ref: str
    head_sha: str
    base_ref: str
    created_at: datetime
    body: str | None = None


@dataclass
class File:
    """A file on the default branch; `commits` keeps every message that changed it."""

    content: bytes
    commits: list[str] = field(default_factory=list)

    @property
    def sha(self) -> str:
        return git_blob_sha(self.content)


@dataclass
class Repo:
    """One repository and everything the product touches in it."""

    id: int
    owner: User
    name: str
    created_at: datetime
    private: bool = False
    default_branch: str = "main"
    roles: dict[str, str] = field(default_factory=dict)  # login -> one of ROLES
    labels: dict[str, Label] = field(default_factory=dict)  # lower-cased name -> label
    issues: dict[int, Issue] = field(default_factory=dict)
    comments: dict[int, Comment] = field(default_factory=dict)
    pulls: dict[int, Pull] = field(default_factory=dict)
    statuses: list[Status] = field(default_factory=list)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # name -> head sha
    files: dict[str, File] = field(default_factory=dict)
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))  # issues and pulls share them

    @property
    def full_name(self) -> str:
        return f"{self.owner.login}/{self.name}"

    def resolve(self, ref: str) -> str | None:
        """The commit sha a branch name or a sha names."""
        if ref in self.commits:
            return ref
        return self.branches.get(ref)


@dataclass
class World:
    """Everything the stand-in knows; ids are unique across kinds, as GitHub's nearly are."""

    clock: Callable[[], datetime] = field(default_factory=TickingClock)
    users: dict[str, User] = field(default_factory=dict)  # lower-cased login -> user
    tokens: dict[str, Token] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)  # lower-cased "owner/name" -> repo
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1001))

    def user(self, login: str) -> User:
        """The account named `login`, made on first mention (bots end in `[bot]`)."""
        key = login.lower()
        if key not in self.users:
            kind = "Bot" if login.endswith("[bot]") else "User"
            self.users[key] = User(login, next(self.ids), kind)
        return self.users[key]

    def repo(self, full_name: str) -> Repo | None:
        return self.repos.get(full_name.lower())

    def label(self, repo: Repo, name: str) -> Label:
        """The repository's label of that name (any case), made when missing, as GitHub does
        for labels named on an issue."""
        key = name.strip().lower()
        if key not in repo.labels:
            repo.labels[key] = Label(next(self.ids), name.strip())
        return repo.labels[key]

    def commit(self, repo: Repo, message: str) -> Commit:
        """A new commit on top of the default branch, which then points at it."""
        parent = repo.branches.get(repo.default_branch)
        sha = hashlib.sha1(f"{parent}\n{message}\n{len(repo.commits)}".encode()).hexdigest()  # an id only
        made = Commit(sha, message, self.clock(), [parent] if parent else [])
        repo.commits[sha] = made
        repo.branches[repo.default_branch] = sha
        return made
