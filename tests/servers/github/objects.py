"""The JSON shapes GitHub sends, built from the stand-in's state: one small factory per schema.

Each factory returns what the spec's schema of the same name requires (every required
property, the right types, `null` only where the spec allows it) plus the optional fields
clients read (`author_association`, `reactions`, `body`). URLs are made for the host the
client used (`Site`), so links and pagination stay on the stand-in.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .state import REACTIONS, Comment, Issue, Label, Reaction, Repo, User

JSON = dict[str, Any]
DOCS = "https://docs.github.com/rest"
# The old "permission" field folds the five roles into admin/write/read (and none).
LEGACY_PERMISSION = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
# Which of the collaborator `permissions` flags each role holds, weakest first.
FLAGS = ("pull", "triage", "push", "maintain", "admin")
ROLE_RANK = {"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}


@dataclass(frozen=True)
class Site:
    """The stand-in's address as this request's client sees it (its `Host` header)."""

    host: str

    @property
    def api(self) -> str:
        return f"http://{self.host}"

    def repo(self, repo: Repo) -> str:
        """The API URL of a repository; most other URLs hang below it."""
        return f"{self.api}/repos/{repo.full_name}"

    def web(self, *parts: object) -> str:
        """A page URL (github.com's role, played by the same host)."""
        return "/".join([self.api, *map(str, parts)])


def stamp(moment: datetime | None) -> str | None:
    """GitHub's timestamps: UTC, seconds, a `Z`."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    """A global node id in GitHub's legacy form, e.g. base64('05:Issue1')."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def error(status: int, message: str, errors: list[JSON] | None = None) -> JSON:
    """GitHub's error body (`basic-error`, or `validation-error` with `errors`)."""
    body: JSON = {"message": message, "documentation_url": DOCS, "status": str(status)}
    if errors is not None:
        body["errors"] = errors
    return body


def user(site: Site, who: User) -> JSON:
    """A `simple-user`."""
    url = f"{site.api}/users/{who.login}"
    return {
        "login": who.login,
        "id": who.id,
        "node_id": node_id(who.type, who.id),
        "avatar_url": site.web("avatars", "u", f"{who.id}?v=4"),
        "gravatar_id": "",
        "url": url,
        "html_url": site.web(who.login),
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": who.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def collaborator(site: Site, who: User, role: str) -> JSON:
    """A `collaborator`: the user with its role and the flags that role grants."""
    rank = ROLE_RANK.get(role, 0)
    flags = {flag: rank > i for i, flag in enumerate(FLAGS)}
    return {**user(site, who), "role_name": role, "permissions": flags}


def association(repo: Repo, who: User) -> str:
    """The `author_association` of a user's issue or comment in this repository."""
    if who.login.lower() == repo.owner.login.lower():
        return "OWNER"
    return "COLLABORATOR" if who.login.lower() in repo.roles else "NONE"


def label(site: Site, repo: Repo, item: Label) -> JSON:
    """A `label`."""
    return {
        "id": item.id,
        "node_id": node_id("Label", item.id),
        "url": f"{site.repo(repo)}/labels/{item.name}",
        "name": item.name,
        "description": item.description,
        "color": item.color,
        "default": False,
    }


def rollup(url: str, reactions: list[Reaction]) -> JSON:
    """A `reaction-rollup`: the count of each reaction, as comments and issues carry it."""
    counts = dict.fromkeys(REACTIONS, 0)
    for item in reactions:
        counts[item.content] += 1
    return {"url": url, "total_count": len(reactions), **counts}


def reaction(site: Site, item: Reaction) -> JSON:
    """A `reaction`."""
    return {
        "id": item.id,
        "node_id": node_id("Reaction", item.id),
        "user": user(site, item.user),
        "content": item.content,
        "created_at": stamp(item.created_at),
    }


def issue(site: Site, repo: Repo, item: Issue) -> JSON:
    """An `issue`."""
    url = f"{site.repo(repo)}/issues/{item.number}"
    return {
        "id": item.id,
        "node_id": node_id("Issue", item.id),
        "url": url,
        "repository_url": site.repo(repo),
        "labels_url": f"{url}/labels{{/name}}",
        "comments_url": f"{url}/comments",
        "events_url": f"{url}/events",
        "html_url": site.web(repo.full_name, "issues", item.number),
        "timeline_url": f"{url}/timeline",
        "number": item.number,
        "state": item.state,
        "title": item.title,
        "body": item.body,
        "user": user(site, item.user),
        "labels": [label(site, repo, each) for each in item.labels],
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "locked": False,
        "active_lock_reason": None,
        "comments": item.comments,
        "closed_at": stamp(item.closed_at),
        "created_at": stamp(item.created_at),
        "updated_at": stamp(item.updated_at),
        "closed_by": None,
        "author_association": association(repo, item.user),
        "reactions": rollup(f"{url}/reactions", []),
        # `state_reason` is nullable, but its enum lacks null, which OpenAPI 3.0.3 says wins:
        # it is sent only when set, as GitHub sends it on closed issues.
        **({"state_reason": "completed"} if item.state == "closed" else {}),
    }


def comment(site: Site, repo: Repo, item: Comment) -> JSON:
    """An `issue-comment`, with its `reactions` summary."""
    url = f"{site.repo(repo)}/issues/comments/{item.id}"
    return {
        "id": item.id,
        "node_id": node_id("IssueComment", item.id),
        "url": url,
        "html_url": site.web(repo.full_name, "issues", f"{item.issue_number}#issuecomment-{item.id}"),
        "issue_url": f"{site.repo(repo)}/issues/{item.issue_number}",
        "body": item.body,
        "user": user(site, item.user),
        "created_at": stamp(item.created_at),
        "updated_at": stamp(item.updated_at),
        "author_association": association(repo, item.user),
        "performed_via_github_app": None,
        "reactions": rollup(f"{url}/reactions", item.reactions),
    }


def rate_limit(limit: int, remaining: int, reset: int) -> JSON:
    """A `rate-limit-overview`; only the core budget moves."""
    core = {"limit": limit, "remaining": remaining, "reset": reset, "used": limit - remaining}
    fresh = {"limit": 30, "remaining": 30, "reset": reset, "used": 0}
    return {
        "resources": {"core": core, "search": fresh, "graphql": {**fresh, "limit": 5000, "remaining": 5000}},
        "rate": core,
    }
