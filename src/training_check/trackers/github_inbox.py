"""The commands channel on GitHub: new comments on the tracking issue and on linked pull
requests (and the one of an `issue_comment` trigger), reactions, replies, watch-list edits.

A comment is new when its id is above the state's `last_command`: the scheduled scan and the
event trigger share that mark, so a comment is never handled twice. When the state was lost
(no `last_command`), a command the bot already reacted to is not run again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from github import UnknownObjectException
from github.Issue import Issue
from github.IssueComment import IssueComment

from ..commands import effective_permission
from ..github_client import Connection, github_call
from ..report.render import GITHUB_COMMENT_LIMIT
from ..watchlist import WatchList, parse_watch_list
from .interface import CommandComment, Reaction

REPLY_MARKER = "<!-- training-check:reply -->"
BOT_MARK = "<!-- training-check:"  # every comment the bot writes starts with one of its markers
EDIT_GRACE = timedelta(seconds=5)  # GitHub may touch a new comment's updated_at; an edit is later


class GitHubInbox:
    """The Inbox protocol on GitHub; made by `GitHubTracker.inbox` once its listing is done."""

    def __init__(
        self,
        connection: Connection,
        tracking: Issue,
        pulls: frozenset[int],
        listed: Sequence[IssueComment],
        event: Mapping[str, Any] | None,
        *,
        last_command: int | None,
        pulls_since: datetime,
    ) -> None:
        self.connection = connection
        self.repo = connection.repo
        self.tracking = tracking
        self.pulls = pulls
        self.last_command = last_command
        self._listed = listed
        self._event = event
        self._pulls_since = pulls_since
        self._objects: dict[int, IssueComment] = {}
        self._permissions: dict[str, str] = {}

    # ---- reading -------------------------------------------------------------------------

    def new_comments(self) -> Sequence[CommandComment]:
        """Comments above `last_command`, not the bot's, oldest first (one request per linked PR)."""
        found: dict[int, CommandComment] = {}
        for comment in self._listed:
            self._keep(found, comment, self.tracking.number, on_pull=False)
        for number in sorted(self.pulls):
            with github_call(f"list the comments of pull request #{number}"):
                for comment in self.repo.get_issue(number).get_comments(since=self._pulls_since):
                    self._keep(found, comment, number, on_pull=True)
        event = self._event_comment()
        if event is not None and event.id not in found and self._is_new(event.id):
            found[event.id] = event
        chosen = [found[i] for i in sorted(found)]
        if self.last_command is None:  # the state was lost: skip what was answered already
            chosen = [c for c in chosen if not self._answered(c)]
        return chosen

    def linked_pulls(self) -> frozenset[int]:
        """The pull requests named by `pr:` in the watch list."""
        return self.pulls

    def permission(self, login: str) -> str:
        """The collaborator permission of `login` (role name; its base level for custom roles)."""
        if login not in self._permissions:
            with github_call(f"read the repository permission of @{login}"):
                try:
                    role = self.repo.get_collaborator_role_name(login)
                    level = effective_permission(role, None)
                    if level == "none" and role not in ("none", ""):  # a custom role: ask its base
                        level = effective_permission(None, self.repo.get_collaborator_permission(login))
                except UnknownObjectException:  # not a user GitHub knows, or no access at all
                    level = "none"
            self._permissions[login] = level
        return self._permissions[login]

    # ---- answering -----------------------------------------------------------------------

    def react(self, comment: CommandComment, reaction: Reaction) -> None:
        """One reaction of the bot on the comment."""
        with github_call(f"react to comment {comment.id}"):
            self._object(comment).create_reaction(reaction)

    def reply(self, comment: CommandComment, markdown: str) -> None:
        """A new comment where `comment` was posted, marked as the bot's (never a command)."""
        text = f"{REPLY_MARKER}\n{markdown}"
        if len(text) > GITHUB_COMMENT_LIMIT:
            text = text[: GITHUB_COMMENT_LIMIT - 1] + "…"
        with github_call(f"reply to comment {comment.id}"):
            self._issue(comment.number).create_comment(text)

    def edit_watch_list(self, change: Callable[[str], str]) -> WatchList:
        """Read the body again right before writing, so an edit made since the cycle began stays."""
        issue = self.repo.get_issue(self.tracking.number)  # lazy: the body is fetched now, fresh
        with github_call(f"read the tracking issue #{self.tracking.number}"):
            before = issue.body or ""
        after = change(before)
        if after != before:
            with github_call(f"edit the watch list in the tracking issue #{self.tracking.number}"):
                issue.edit(body=after)
        return parse_watch_list(after, f"the tracking issue #{self.tracking.number}")

    # ---- helpers -------------------------------------------------------------------------

    def _is_new(self, comment_id: int) -> bool:
        return self.last_command is None or comment_id > self.last_command

    def _keep(self, found: dict[int, CommandComment], comment: IssueComment, number: int, on_pull: bool) -> None:
        """Remember a listed comment if it is new and not the bot's."""
        user = comment.user
        if user is None or not self._is_new(comment.id):
            return
        body = comment.body or ""
        if self._by_bot(user.login, user.type, body):
            return
        edited = comment.updated_at - comment.created_at > EDIT_GRACE
        found[comment.id] = CommandComment(comment.id, number, on_pull, user.login, body, edited)
        self._objects[comment.id] = comment

    def _by_bot(self, login: str, kind: str | None, body: str) -> bool:
        """The bot's own comment: its login, and its marker or a bot account (a person's token
        may be the bot's; that person's own commands still count)."""
        return login.lower() == self.connection.bot_login.lower() and (body.startswith(BOT_MARK) or kind == "Bot")

    def _event_comment(self) -> CommandComment | None:
        """The comment of an `issue_comment: created` trigger on the tracking issue or a pull request."""
        event = self._event or {}
        comment, issue = _object(event.get("comment")), _object(event.get("issue"))
        user = _object(comment.get("user"))
        number, cid, login, body = issue.get("number"), comment.get("id"), user.get("login"), comment.get("body")
        if event.get("action") != "created" or not isinstance(number, int) or not isinstance(cid, int):
            return None
        if not isinstance(login, str) or not isinstance(body, str):
            return None
        full_name = _object(event.get("repository")).get("full_name")
        if isinstance(full_name, str) and full_name.lower() != self.connection.repository.lower():
            return None
        on_pull = "pull_request" in issue
        if (number != self.tracking.number and not on_pull) or self._by_bot(login, user.get("type"), body):
            return None  # a comment on some other issue, or the bot's own
        edited = _seconds_between(comment.get("created_at"), comment.get("updated_at")) > EDIT_GRACE.total_seconds()
        return CommandComment(cid, number, on_pull, login, body, edited)

    def _answered(self, comment: CommandComment) -> bool:
        """Whether the bot already reacted 👀 (asked only for comments that look like commands)."""
        if not comment.body.lstrip().startswith("/"):
            return False
        listed = self._objects.get(comment.id)
        if listed is not None and not (listed.reactions or {}).get("eyes"):
            return False  # the listing's reaction summary says nobody reacted 👀
        bot = self.connection.bot_login.lower()
        with github_call(f"read the reactions to comment {comment.id}"):
            return any(
                r.content == "eyes" and r.user.login.lower() == bot for r in self._object(comment).get_reactions()
            )

    def _issue(self, number: int) -> Issue:
        return self.tracking if number == self.tracking.number else self.repo.get_issue(number)

    def _object(self, comment: CommandComment) -> IssueComment:
        """The PyGithub comment: the listed one, or a lazy one made from its id (no request)."""
        if comment.id not in self._objects:
            self._objects[comment.id] = self._issue(comment.number).get_comment(comment.id)
        return self._objects[comment.id]


def _object(value: object) -> Mapping[str, Any]:
    """A JSON object of the payload, or an empty one when the payload is not as expected."""
    return value if isinstance(value, dict) else {}


def _seconds_between(start: object, end: object) -> float:
    """Seconds from one ISO 8601 time to another; 0 when either is missing or unreadable."""
    try:
        a = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        b = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (b - a).total_seconds()
