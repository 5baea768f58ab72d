"""JSON shapes for the repository side: repository, commit, pull request, statuses, contents, rate limit.

Same rules as objects.py: what the spec's schema requires, URLs on the client's host.
"""

from __future__ import annotations

import base64

from .objects import JSON, Site, association, node_id, stamp, user
from .state import Commit, File, Pull, Repo, Status

# The URL templates every repository object carries, relative to the repository's API URL.
REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository(site: Site, repo: Repo) -> JSON:
    """A `full-repository` (which also satisfies `repository` and `minimal-repository`)."""
    api = site.repo(repo)
    open_issues = sum(issue.state == "open" for issue in repo.issues.values())
    created = stamp(repo.created_at)
    return {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": user(site, repo.owner),
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": site.web(repo.full_name),
        "description": None,
        "fork": False,
        "url": api,
        **{key: api + suffix for key, suffix in REPO_URLS.items()},
        "git_url": f"git://{site.host}/{repo.full_name}.git",
        "ssh_url": f"git@{site.host}:{repo.full_name}.git",
        "clone_url": site.web(f"{repo.full_name}.git"),
        "svn_url": site.web(repo.full_name),
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "forks": 0,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers": 0,
        "watchers_count": 0,
        "subscribers_count": 1,
        "network_count": 0,
        "size": 1,
        "default_branch": repo.default_branch,
        "open_issues": open_issues,
        "open_issues_count": open_issues,
        "topics": [],
        "has_issues": True,
        "has_projects": False,
        "has_wiki": False,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "license": None,
        "pushed_at": created,
        "created_at": created,
        "updated_at": created,
    }


def commit(site: Site, repo: Repo, item: Commit) -> JSON:
    """A `commit` (without `files` and `stats`)."""
    api = f"{site.repo(repo)}/commits/{item.sha}"
    person = {"name": repo.owner.login, "email": f"{repo.owner.login}@users.noreply.github.com"}
    return {
        "url": api,
        "sha": item.sha,
        "node_id": node_id("Commit", int(item.sha[:7], 16)),
        "html_url": site.web(repo.full_name, "commit", item.sha),
        "comments_url": f"{api}/comments",
        "commit": {
            "url": f"{site.repo(repo)}/git/commits/{item.sha}",
            "author": {**person, "date": stamp(item.date)},
            "committer": {**person, "date": stamp(item.date)},
            "message": item.message,
            "comment_count": 0,
            "tree": {"sha": item.sha[::-1], "url": f"{site.repo(repo)}/git/trees/{item.sha[::-1]}"},
        },
        "author": user(site, repo.owner),
        "committer": user(site, repo.owner),
        "parents": [{"sha": sha, "url": f"{site.repo(repo)}/commits/{sha}"} for sha in item.parents],
    }


def _branch(site: Site, repo: Repo, ref: str, sha: str) -> JSON:
    """A pull request's `head` or `base`."""
    return {
        "label": f"{repo.owner.login}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(site, repo.owner),
        "repo": repository(site, repo),
    }


def pull(site: Site, repo: Repo, item: Pull) -> JSON:
    """A `pull-request`, open and not yet mergeable-checked (`mergeable` null, as GitHub starts)."""
    api = f"{site.repo(repo)}/pulls/{item.number}"
    issue_api = f"{site.repo(repo)}/issues/{item.number}"
    html = site.web(repo.full_name, "pull", item.number)
    links = {
        "self": api,
        "html": html,
        "issue": issue_api,
        "comments": f"{issue_api}/comments",
        "review_comments": f"{api}/comments",
        "review_comment": f"{site.repo(repo)}/pulls/comments{{/number}}",
        "commits": f"{api}/commits",
        "statuses": f"{site.repo(repo)}/statuses/{item.head_sha}",
    }
    return {
        "url": api,
        "id": item.id,
        "node_id": node_id("PullRequest", item.id),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": issue_api,
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "number": item.number,
        "state": "open",
        "locked": False,
        "title": item.title,
        "user": user(site, item.user),
        "body": item.body,
        "labels": [],
        "milestone": None,
        "created_at": stamp(item.created_at),
        "updated_at": stamp(item.created_at),
        "closed_at": None,
        "merged_at": None,
        "merge_commit_sha": None,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "head": _branch(site, repo, item.head_ref, item.head_sha),
        "base": _branch(site, repo, item.base_ref, repo.branches[item.base_ref]),
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": association(repo, item.user),
        "auto_merge": None,
        "draft": False,
        "merged": False,
        "mergeable": None,
        "rebaseable": None,
        "mergeable_state": "unknown",
        "merged_by": None,
        "comments": 0,
        "review_comments": 0,
        "maintainer_can_modify": False,
        "commits": 1,
        "additions": 1,
        "deletions": 0,
        "changed_files": 1,
    }


def status(site: Site, repo: Repo, item: Status) -> JSON:
    """A `status` (also a valid `simple-commit-status`)."""
    return {
        "url": f"{site.repo(repo)}/statuses/{item.sha}",
        "avatar_url": user(site, item.creator)["avatar_url"],
        "id": item.id,
        "node_id": node_id("StatusContext", item.id),
        "state": item.state,
        "description": item.description,
        "target_url": item.target_url,
        "context": item.context,
        "created_at": stamp(item.created_at),
        "updated_at": stamp(item.created_at),
        "creator": user(site, item.creator),
    }


def combined_status(site: Site, repo: Repo, sha: str, latest: list[Status]) -> JSON:
    """A `combined-commit-status` from the latest status of each context."""
    states = {item.state for item in latest}
    if states & {"error", "failure"}:
        state = "failure"
    elif "pending" in states or not latest:
        state = "pending"
    else:
        state = "success"
    simple = [{k: v for k, v in status(site, repo, item).items() if k != "creator"} for item in latest]
    return {
        "state": state,
        "statuses": simple,
        "sha": sha,
        "total_count": len(latest),
        "repository": repository(site, repo),
        "commit_url": f"{site.repo(repo)}/commits/{sha}",
        "url": f"{site.repo(repo)}/commits/{sha}/status",
    }


def content_file(site: Site, repo: Repo, path: str, item: File) -> JSON:
    """A `content-file`: base64 wrapped at 60 columns, as GitHub sends it."""
    encoded = base64.b64encode(item.content).decode()
    wrapped = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
    return {**file_summary(site, repo, path, item), "encoding": "base64", "content": wrapped}


def file_summary(site: Site, repo: Repo, path: str, item: File) -> JSON:
    """A file's metadata, as a `content-file` and a `file-commit`'s `content` share it."""
    url = f"{site.repo(repo)}/contents/{path}?ref={repo.default_branch}"
    git_url = f"{site.repo(repo)}/git/blobs/{item.sha}"
    html_url = site.web(repo.full_name, "blob", repo.default_branch, path)
    return {
        "type": "file",
        "size": len(item.content),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": item.sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": site.web("raw", repo.full_name, repo.default_branch, path),
        "_links": {"self": url, "git": git_url, "html": html_url},
    }


def file_commit(site: Site, repo: Repo, path: str, item: File, made: Commit) -> JSON:
    """A `file-commit`: what a contents PUT answers."""
    full = commit(site, repo, made)
    return {
        "content": file_summary(site, repo, path, item),
        "commit": {
            "sha": made.sha,
            "node_id": full["node_id"],
            "url": full["commit"]["url"],
            "html_url": full["html_url"],
            "author": full["commit"]["author"],
            "committer": full["commit"]["committer"],
            "message": made.message,
            "tree": full["commit"]["tree"],
            "parents": [
                {**parent, "html_url": site.web(repo.full_name, "commit", parent["sha"])} for parent in full["parents"]
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
    }
