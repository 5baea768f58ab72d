"""The GitHub tracker: the tracking issue's body is the watch list, one bot comment the dashboard.

A quiet cycle makes three requests: (1) the open issues with the label — the tracking issue
and its body; (2) its comments updated since a look-back before the issue's last activity —
the dashboard is edited every cycle, so it is always among them, with any new command;
(3) the dashboard edit. The previous cycle wrote, beside the state, the time up to which it
had read the comments (the cursor). Only when the look-back does not reach back to it (a long
pause) or the dashboard is not among them are the comments listed again.

The dashboard is the bot's own comment starting with the marker: a look-alike posted by
someone else is ignored, since it could carry a forged state.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any

from github import UnknownObjectException
from github.Issue import Issue
from github.IssueComment import IssueComment

from ..errors import TrainingCheckError
from ..github_client import Connection, GitHubSettings, connect, github_call
from ..report.markdown import shorten
from ..report.render import GITHUB_COMMENT_LIMIT
from ..state import State, embed_state, extract_state, load_state_or_default
from ..watchlist import WatchEntry, WatchList, parse_watch_list
from .github_inbox import GitHubInbox
from .interface import CommitState

DASHBOARD_MARKER = "<!-- training-check:dashboard -->"
LOOKBACK = timedelta(hours=24)  # longer than the dormant cron's 6 hours, with room for delays
MARGIN = timedelta(seconds=2)  # GitHub's times have whole seconds: list a little early
_CURSOR = re.compile(r"<!-- training-check:comments-since ([0-9TZ:-]{20}) -->")
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_CUT = "\n\n… (the dashboard was cut to fit GitHub's comment size limit)\n"
ISSUE_TITLE = "Training runs watched by training-check"
ISSUE_BODY = """This issue holds the list of training runs that training-check watches. Edit the YAML \
block below to add or remove runs (the bot reads only the block); comment `/help` to see its commands.

```yaml
runs:
  # - wandb: my-team/llm-pretrain/3kx9a2   # entity/project/run_id
  #   host: gpu1                            # a name from `hosts:` in the config
  #   stop: {pid: 48121}                    # or {pgid: …} {slurm: …} {tmux: …} {screen: …}
  #   log: /data/runs/a/metrics.jsonl       # optional: read over SSH when W&B cannot be
  #   pr: 17                                # optional: also report on this pull request
```
"""


@dataclass(frozen=True)
class _Scan:
    """What the comment listing found: the candidates for commands, the dashboard, the cursor
    the previous cycle left and the one to leave for the next."""

    comments: tuple[IssueComment, ...]
    dashboard: IssueComment | None
    previous: datetime | None
    cursor: datetime
    window: datetime  # the look-back's start


class GitHubTracker:
    """The Tracker protocol on a GitHub repository, through PyGithub. Per cycle, call
    `read_watch_list`, then `load_state`, then the rest (the listing of step 2 is reused)."""

    def __init__(self, connection: Connection, label: str = "training-check") -> None:
        self.connection = connection
        self.repo = connection.repo
        self.label = label
        self._issue: Issue | None = None
        self._watch = WatchList(())
        self._scan: _Scan | None = None
        self._last_command: int | None = None
        self._written: str | None = None
        self._heads: dict[int, str] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str], label: str = "training-check") -> GitHubTracker:
        """The tracker of the repository an Action runs in (GITHUB_TOKEN, GITHUB_REPOSITORY …)."""
        return cls(connect(GitHubSettings.from_env(env)), label)

    # ---- reading -------------------------------------------------------------------------

    def read_watch_list(self) -> WatchList:
        """The watch list in the tracking issue's body (the issue is created when missing)."""
        self._scan, self._heads = None, {}
        issue, problems = self._find_issue()
        self._issue = issue
        watch = parse_watch_list(issue.body or "", self._source)
        self._watch = WatchList(watch.entries, (*problems, *watch.problems))
        return self._watch

    def load_state(self) -> tuple[State, str | None]:
        """The state hidden in the bot's dashboard comment (defaults and a notice if none)."""
        scan = self._scan = self._scan_comments(self._tracking)
        self._written = scan.dashboard.body if scan.dashboard else None
        text = extract_state(scan.dashboard.body) if scan.dashboard else None
        state, notice = load_state_or_default(text)
        self._last_command = state.last_command
        return state, notice

    def inbox(self, event: Mapping[str, Any] | None) -> GitHubInbox:
        """The new comments on the tracking issue and linked pull requests, and the event's."""
        if self._scan is None:
            raise RuntimeError("load_state must come before inbox")
        scan = self._scan
        pulls = frozenset(e.pr for e in self._watch.entries if e.pr is not None)
        since = scan.previous - MARGIN if scan.previous else scan.window
        return GitHubInbox(
            self.connection,
            self._tracking,
            pulls,
            scan.comments,
            event,
            last_command=self._last_command,
            pulls_since=since,
        )

    # ---- writing -------------------------------------------------------------------------

    def publish(self, dashboard_markdown: str, state: State) -> None:
        """Edit the dashboard comment in place (create it the first time); no request when
        nothing changed since the last write."""
        body = self._body(dashboard_markdown, state)
        if body == self._written:
            return
        with github_call("write the dashboard comment"):
            if not self._edit_dashboard(body):
                made = self._tracking.create_comment(body)
                self._scan = replace(self._scan, dashboard=made) if self._scan else None
        self._written = body

    def _edit_dashboard(self, body: str) -> bool:
        """Edit the dashboard in place; False when there is none (yet, or any more)."""
        dashboard = self._scan.dashboard if self._scan else None
        if dashboard is None:
            return False
        try:
            dashboard.edit(body)
        except UnknownObjectException:
            return False  # deleted since it was read: a new one is posted
        return True

    def post_verdict(self, entry: WatchEntry, markdown: str) -> None:
        """The verdict on the tracking issue, and on the run's pull request if it has one."""
        with github_call(f"post the verdict on `{entry.name}`"):
            self._tracking.create_comment(markdown)
        if entry.pr is not None:
            with github_call(f"post the verdict on `{entry.name}` to pull request #{entry.pr}"):
                self.repo.get_issue(entry.pr).create_comment(markdown)

    def set_status(self, entry: WatchEntry, state: CommitState, description: str) -> None:
        """The commit status `training-check/<run>` on the head of the run's pull request."""
        if entry.pr is None:
            return
        with github_call(f"set the commit status of `{entry.name}` on pull request #{entry.pr}"):
            if entry.pr not in self._heads:
                self._heads[entry.pr] = self.repo.get_pull(entry.pr).head.sha
            self.repo.get_commit(self._heads[entry.pr]).create_status(
                state,
                target_url=self._tracking.html_url,
                description=shorten(description, 140),  # GitHub's limit
                context=f"training-check/{entry.name}",
            )

    def describe(self) -> str:
        """The tracking issue and the repository."""
        number = f"#{self._issue.number}" if self._issue is not None else f"labelled `{self.label}`"
        return f"the issue {number} of {self.connection.repository}"

    # ---- helpers -------------------------------------------------------------------------

    @property
    def _tracking(self) -> Issue:
        if self._issue is None:
            raise RuntimeError("read_watch_list must come first")
        return self._issue

    @property
    def _source(self) -> str:
        return f"the tracking issue #{self._tracking.number}"

    def _find_issue(self) -> tuple[Issue, list[str]]:
        """The oldest open issue with the label (pull requests do not count), or a new one."""
        with github_call(f"list the open issues labelled `{self.label}`"):
            listed = self.repo.get_issues(state="open", labels=[self.label], sort="created", direction="asc")
            # The first page only; `pull_request` is absent from issues and reading it would
            # fetch each one, so pull requests are told apart by their web address.
            found = [i for i in islice(listed, 100) if "/pull/" not in i.html_url]
        if found:
            others = ", ".join(f"#{i.number}" for i in found[1:])
            extra = [f"Issues {others} are also labelled `{self.label}`; only #{found[0].number} is read."]
            return found[0], extra if others else []
        with github_call("create the tracking issue"):
            made = self.repo.create_issue(title=ISSUE_TITLE, body=ISSUE_BODY, labels=[self.label])
        return made, [f"No open issue was labelled `{self.label}`, so #{made.number} was created: list runs there."]

    def _scan_comments(self, issue: Issue) -> _Scan:
        """List the comments once in a quiet cycle; again only when the first listing cannot be
        trusted to hold every comment the previous cycle did not see."""
        window = issue.updated_at - LOOKBACK
        if issue.comments == 0:  # a new issue: nothing to list
            return _Scan((), None, None, issue.updated_at, window)
        listed = self._list(issue, window)
        dashboard = self._dashboard_in(listed)
        previous = _cursor_of(dashboard.body) if dashboard else None
        if dashboard is None and len(listed) < issue.comments:
            everything = self._list(issue, None)  # a long pause, or the dashboard is gone
            dashboard = self._dashboard_in(everything)
            previous = _cursor_of(dashboard.body) if dashboard else None
            if dashboard is not None:
                listed = everything  # the state's last_command tells the new ones
        elif dashboard is not None and (previous is None or previous - MARGIN < window):
            listed = self._list(issue, previous - MARGIN if previous else None)  # reach back to the cursor
        stamps = [issue.updated_at, *(c.updated_at for c in listed)]
        return _Scan(tuple(listed), dashboard, previous, max(stamps), window)

    def _list(self, issue: Issue, since: datetime | None) -> list[IssueComment]:
        with github_call(f"list the comments of the tracking issue #{issue.number}"):
            return list(issue.get_comments(since=since) if since else issue.get_comments())

    def _dashboard_in(self, comments: list[IssueComment]) -> IssueComment | None:
        """The bot's own dashboard comment (the oldest, should there be two)."""
        bot = self.connection.bot_login.lower()
        for comment in comments:
            author = comment.user.login.lower() if comment.user else ""
            if author == bot and (comment.body or "").startswith(DASHBOARD_MARKER):
                return comment
        return None

    def _body(self, markdown: str, state: State) -> str:
        """The comment: the dashboard, the cursor and the state, within GitHub's limit (the
        cycle leaves room for the state; this only guards against a miscount)."""
        cursor = self._scan.cursor if self._scan else datetime.now(timezone.utc)
        mark = f"<!-- training-check:comments-since {cursor.astimezone(timezone.utc).strftime(_TIME)} -->"
        body = embed_state(f"{markdown.rstrip()}\n{mark}\n", state)
        if len(body) <= GITHUB_COMMENT_LIMIT:
            return body
        room = GITHUB_COMMENT_LIMIT - len(embed_state(f"{_CUT}{mark}\n", state)) - 1
        if room < len(DASHBOARD_MARKER):
            raise TrainingCheckError("The bot state is too large for a GitHub comment.", tip="Watch fewer runs.")
        return embed_state(f"{markdown[:room].rstrip()}{_CUT}{mark}\n", state)


def _cursor_of(body: str | None) -> datetime | None:
    """The cursor the previous cycle wrote into the dashboard (the last one: ours is at the end)."""
    found = _CURSOR.findall(body or "")
    if not found:
        return None
    try:
        return datetime.strptime(found[-1], _TIME).replace(tzinfo=timezone.utc)
    except ValueError:
        return None
