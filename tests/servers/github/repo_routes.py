"""The repository, collaborator permission, commits and statuses, pulls, contents and rate limit."""

from __future__ import annotations

import base64
import binascii

from . import repo_objects as r
from .objects import LEGACY_PERMISSION, collaborator
from .routing import Call, HTTPError, Reply, Router, paginate
from .state import Commit, File, Repo, Status

router = Router()
STATES = ("error", "failure", "pending", "success")
# How GitHub words its refusal to let a token without the right grant touch a workflow file.
WORKFLOW_REFUSAL = {
    "app": "refusing to allow a GitHub App to create or update workflow `{path}` without `workflows` permission",
    "oauth": "refusing to allow an OAuth App to create or update workflow `{path}` without `workflow` scope",
    "pat": "refusing to allow a Personal Access Token to create or update workflow `{path}` without `workflow` scope",
}


@router.get("/repos/{owner}/{repo}")
def get_repo(call: Call) -> Reply:
    return Reply(200, r.repository(call.site, call.repo))


@router.get("/repos/{owner}/{repo}/collaborators/{username}/permission")
def permission(call: Call) -> Reply:
    """A user's role; outside collaborators see a public repository as readers, a private one not at all."""
    repo, login = call.repo, call.params["username"]
    if login.lower() not in call.world.users:
        raise HTTPError(404, "Not Found")
    who = call.world.user(login)
    role = repo.roles.get(login.lower()) or ("admin" if who.id == repo.owner.id else None)
    role = role or ("none" if repo.private else "read")
    legacy = LEGACY_PERMISSION.get(role, "none")
    return Reply(200, {"permission": legacy, "role_name": role, "user": collaborator(call.site, who, role)})


def _commit(call: Call, repo: Repo, ref: str) -> Commit:
    sha = repo.resolve(ref)
    if sha is None:
        raise HTTPError(422, f"No commit found for SHA: {ref}")
    return repo.commits[sha]


@router.get("/repos/{owner}/{repo}/commits/{ref}")
def get_commit(call: Call) -> Reply:
    repo = call.repo
    return Reply(200, r.commit(call.site, repo, _commit(call, repo, call.params["ref"])))


@router.post("/repos/{owner}/{repo}/statuses/{sha}")
def create_status(call: Call) -> Reply:
    repo, state = call.repo, call.field("state", required=True)
    sha = _commit(call, repo, call.params["sha"]).sha
    if state not in STATES:
        raise HTTPError(422, "Validation Failed", [{"resource": "Status", "code": "custom", "field": "state"}])
    item = Status(
        id=next(call.world.ids),
        sha=sha,
        state=state,
        context=call.field("context") or "default",
        description=call.field("description"),
        target_url=call.field("target_url"),
        creator=call.user,
        created_at=call.world.clock(),
    )
    repo.statuses.append(item)
    return Reply(201, r.status(call.site, repo, item))


def _statuses(call: Call) -> tuple[Repo, str, list[Status]]:
    """The statuses of a ref, newest first."""
    repo = call.repo
    sha = _commit(call, repo, call.params["ref"]).sha
    return repo, sha, [item for item in reversed(repo.statuses) if item.sha == sha]


@router.get("/repos/{owner}/{repo}/commits/{ref}/statuses")
@router.get("/repos/{owner}/{repo}/statuses/{ref}")  # the legacy form, which PyGithub uses
def list_statuses(call: Call) -> Reply:
    repo, _, found = _statuses(call)
    return paginate(call, [r.status(call.site, repo, item) for item in found])


@router.get("/repos/{owner}/{repo}/commits/{ref}/status")
def combined_status(call: Call) -> Reply:
    """The latest status of each context, and the state they add up to."""
    repo, sha, found = _statuses(call)
    latest: dict[str, Status] = {}
    for item in found:
        latest.setdefault(item.context, item)
    return Reply(200, r.combined_status(call.site, repo, sha, list(latest.values())))


@router.get("/repos/{owner}/{repo}/pulls/{pull_number}")
def get_pull(call: Call) -> Reply:
    repo, number = call.repo, call.params["pull_number"]
    item = repo.pulls.get(int(number)) if number.isdigit() else None
    if item is None:
        raise HTTPError(404, "Not Found")
    return Reply(200, r.pull(call.site, repo, item))


def _on_default_branch(call: Call, repo: Repo, name: str) -> None:
    """The stand-in keeps files on the default branch only; another ref is refused, not faked."""
    ref = call.query.get(name) or (call.field(name) if call.method == "PUT" else None)
    if ref and ref not in (repo.default_branch, repo.branches.get(repo.default_branch)):
        raise HTTPError(404, f"No commit found for the ref {ref}")


@router.get("/repos/{owner}/{repo}/contents/{path}")
def get_contents(call: Call) -> Reply:
    repo, path = call.repo, call.params["path"].strip("/")
    _on_default_branch(call, repo, "ref")
    item = repo.files.get(path)
    if item is None:
        raise HTTPError(404, "Not Found")
    return Reply(200, r.content_file(call.site, repo, path, item))


@router.put("/repos/{owner}/{repo}/contents/{path}")
def put_contents(call: Call) -> Reply:
    """Create or update a file: workflow files need the grant, an update needs the current blob sha."""
    repo, path = call.repo, call.params["path"].strip("/")
    if path.startswith(".github/workflows/") and not call.token.workflow:
        raise HTTPError(403, WORKFLOW_REFUSAL[call.token.kind].format(path=path))
    message, encoded = call.field("message", required=True), call.field("content", required=True)
    _on_default_branch(call, repo, "branch")
    try:
        content = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise HTTPError(422, "content is not valid Base64") from None
    existing, sha = repo.files.get(path), call.field("sha")
    if existing is not None and sha is None:
        raise HTTPError(422, 'Invalid request.\n\n"sha" wasn\'t supplied.')
    if existing is not None and sha != existing.sha:
        raise HTTPError(409, f"{path} does not match {sha}")
    item = existing or File(b"")
    item.content = content
    item.commits.append(message)
    repo.files[path] = item
    made = call.world.commit(repo, message)
    return Reply(201 if existing is None else 200, r.file_commit(call.site, repo, path, item, made))
