"""Issues, labels, issue comments and their reactions, as GitHub's REST API serves them."""

from __future__ import annotations

from datetime import datetime

from . import objects as o
from .routing import Call, HTTPError, Reply, Router, paginate
from .state import REACTIONS, Comment, Issue, Label, Reaction, Repo

router = Router()
ISSUE = "/repos/{owner}/{repo}/issues/{issue_number}"
COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id}"


def _issue(call: Call) -> Issue:
    found = call.repo.issues.get(int(call.params["issue_number"])) if call.params["issue_number"].isdigit() else None
    if found is None:
        raise HTTPError(404, "Not Found")
    return found


def _comment(call: Call) -> Comment:
    number = call.params["comment_id"]
    found = call.repo.comments.get(int(number)) if number.isdigit() else None
    if found is None:
        raise HTTPError(404, "Not Found")
    return found


def _labels(call: Call, repo: Repo, names: list[object]) -> list[Label]:
    """The labels named in a request; GitHub creates the ones the repository lacks."""
    found = []
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise HTTPError(422, "Validation Failed", [{"resource": "Label", "code": "invalid", "field": "name"}])
        found.append(call.world.label(repo, name))
    return found


def _since(call: Call) -> datetime | None:
    """The `since` filter (ISO 8601), which GitHub compares with `updated_at`."""
    text = call.query.get("since")
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPError(
            422, "Validation Failed", [{"resource": "Issue", "code": "invalid", "field": "since"}]
        ) from None


@router.get("/repos/{owner}/{repo}/issues")
def list_issues(call: Call) -> Reply:
    """Issues filtered by `state` (open by default) and `labels` (all of them), newest first."""
    repo, state = call.repo, call.query.get("state", "open")
    wanted = {name.strip().lower() for name in call.query.get("labels", "").split(",") if name.strip()}
    chosen = [
        issue
        for issue in repo.issues.values()
        if state in ("all", issue.state) and wanted <= {label.name.lower() for label in issue.labels}
    ]
    chosen.sort(key=lambda issue: issue.number, reverse=call.query.get("direction", "desc") == "desc")
    return paginate(call, [o.issue(call.site, repo, issue) for issue in chosen])


@router.post("/repos/{owner}/{repo}/issues")
def create_issue(call: Call) -> Reply:
    repo, now = call.repo, call.world.clock()
    title = call.field("title", (str, int), required=True)
    issue = Issue(
        id=next(call.world.ids),
        number=next(repo.numbers),
        title=str(title),
        body=call.field("body"),
        user=call.user,
        created_at=now,
        updated_at=now,
        labels=_labels(call, repo, call.field("labels", list) or []),
    )
    repo.issues[issue.number] = issue
    return Reply(201, o.issue(call.site, repo, issue))


@router.get(ISSUE)
def get_issue(call: Call) -> Reply:
    return Reply(200, o.issue(call.site, call.repo, _issue(call)))


@router.patch(ISSUE)
def edit_issue(call: Call) -> Reply:
    """Title, body, state and the whole label set, each only when sent."""
    repo, issue = call.repo, _issue(call)
    if (title := call.field("title", (str, int))) is not None:
        issue.title = str(title)
    if isinstance(call.body, dict) and "body" in call.body:
        issue.body = call.field("body")
    if (labels := call.field("labels", list)) is not None:
        issue.labels = _labels(call, repo, labels)
    if (state := call.field("state")) is not None:
        if state not in ("open", "closed"):
            raise HTTPError(422, "Validation Failed", [{"resource": "Issue", "code": "invalid", "field": "state"}])
        issue.state = state
    issue.updated_at = call.world.clock()
    issue.closed_at = issue.updated_at if issue.state == "closed" else None
    return Reply(200, o.issue(call.site, repo, issue))


@router.get("/repos/{owner}/{repo}/labels")
def list_labels(call: Call) -> Reply:
    repo = call.repo
    return paginate(call, [o.label(call.site, repo, item) for item in repo.labels.values()])


@router.post("/repos/{owner}/{repo}/labels")
def create_label(call: Call) -> Reply:
    repo, name = call.repo, call.field("name", required=True)
    if name.lower() in repo.labels:
        raise HTTPError(422, "Validation Failed", [{"resource": "Label", "code": "already_exists", "field": "name"}])
    color = (call.field("color") or "ededed").lstrip("#")
    item = Label(next(call.world.ids), name, color, call.field("description"))
    repo.labels[name.lower()] = item
    return Reply(201, o.label(call.site, repo, item))


@router.get("/repos/{owner}/{repo}/labels/{name}")
def get_label(call: Call) -> Reply:
    repo = call.repo
    item = repo.labels.get(call.params["name"].lower())
    if item is None:
        raise HTTPError(404, "Not Found")
    return Reply(200, o.label(call.site, repo, item))


@router.get(ISSUE + "/comments")
def list_comments(call: Call) -> Reply:
    """An issue's comments, oldest first, those updated at or after `since` when it is given."""
    repo, issue, since = call.repo, _issue(call), _since(call)
    chosen = [
        item
        for item in repo.comments.values()
        if item.issue_number == issue.number and (since is None or item.updated_at >= since)
    ]
    return paginate(call, [o.comment(call.site, repo, item) for item in chosen])


@router.post(ISSUE + "/comments")
def create_comment(call: Call) -> Reply:
    repo, issue, now = call.repo, _issue(call), call.world.clock()
    item = Comment(next(call.world.ids), issue.number, call.user, call.field("body", required=True), now, now)
    repo.comments[item.id] = item
    issue.comments += 1
    issue.updated_at = now
    return Reply(201, o.comment(call.site, repo, item))


@router.get(COMMENT)
def get_comment(call: Call) -> Reply:
    return Reply(200, o.comment(call.site, call.repo, _comment(call)))


@router.patch(COMMENT)
def edit_comment(call: Call) -> Reply:
    repo, item = call.repo, _comment(call)
    item.body = call.field("body", required=True)
    item.updated_at = call.world.clock()
    return Reply(200, o.comment(call.site, repo, item))


@router.delete(COMMENT)
def delete_comment(call: Call) -> Reply:
    repo, item = call.repo, _comment(call)
    del repo.comments[item.id]
    repo.issues[item.issue_number].comments -= 1
    return Reply(204)


@router.get(COMMENT + "/reactions")
def list_reactions(call: Call) -> Reply:
    """A comment's reactions, optionally only one `content`."""
    item, content = _comment(call), call.query.get("content")
    chosen = [each for each in item.reactions if content in (None, each.content)]
    return paginate(call, [o.reaction(call.site, each) for each in chosen])


@router.post(COMMENT + "/reactions")
def create_reaction(call: Call) -> Reply:
    """201 for a new reaction; 200 with the existing one when this user already reacted so."""
    item, content = _comment(call), call.field("content", required=True)
    if content not in REACTIONS:
        raise HTTPError(422, "Validation Failed", [{"resource": "Reaction", "code": "invalid", "field": "content"}])
    for each in item.reactions:
        if each.content == content and each.user.id == call.user.id:
            return Reply(200, o.reaction(call.site, each))
    made = Reaction(next(call.world.ids), call.user, content, call.world.clock())
    item.reactions.append(made)
    return Reply(201, o.reaction(call.site, made))
