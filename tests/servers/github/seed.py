"""Setting up the stand-in's world directly (no HTTP): repositories, tokens, pull requests,
and issues or comments written by people who have no token in the test.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from .state import ROLES, Comment, File, Issue, Pull, Repo, Token, World

# What the `github_standin` fixture sets up: a repository with one user per role, a
# GITHUB_TOKEN-like bot token (no `workflows` permission, as in Actions) and an admin's
# personal token that may edit workflows.
DEFAULT_REPO = "octo-org/trainer"
BOT_TOKEN = "ghs_standinbot000000000000000000000000"
ADMIN_TOKEN = "ghp_standinadmin0000000000000000000000"
PEOPLE = {"alice": "admin", "bob": "maintain", "carol": "write", "dave": "triage", "erin": "read"}
WORKFLOW = ".github/workflows/training-check.yml"
WORKFLOW_TEXT = """name: training-check
on:
  schedule:
    - cron: "*/30 * * * *"
  workflow_dispatch:
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
"""


class Seeding:
    """The stand-in's set-up methods; each takes the state lock like a request would."""

    world: World
    lock: threading.RLock

    def add_token(self, value: str, login: str, kind: str = "oauth", workflow: bool = True) -> Token:
        """Accept `value` as a token of `login`; `kind` is 'app', 'oauth' or 'pat'."""
        assert kind in ("app", "oauth", "pat"), kind
        with self.lock:
            self.world.user(login)
            token = Token(value, login, kind, workflow)  # type: ignore[arg-type]
            self.world.tokens[value] = token
            return token

    def add_repo(
        self,
        full_name: str,
        roles: Mapping[str, str] | None = None,
        files: Mapping[str, str | bytes] | None = None,
        private: bool = False,
    ) -> Repo:
        """A repository with collaborators (login -> role) and files on its default branch."""
        owner_login, name = full_name.split("/")
        with self.lock:
            owner = self.world.user(owner_login)
            repo = Repo(next(self.world.ids), owner, name, self.world.clock(), private)
            for login, role in (roles or {}).items():
                assert role in ROLES, role
                self.world.user(login)
                repo.roles[login.lower()] = role
            self.world.repos[full_name.lower()] = repo
            self.world.commit(repo, "Initial commit")
            for path, text in (files or {}).items():
                repo.files[path] = File(text.encode() if isinstance(text, str) else text, ["Initial commit"])
            return repo

    def repo(self, full_name: str = DEFAULT_REPO) -> Repo:
        """A repository of the stand-in, to inspect or change its state directly."""
        found = self.world.repo(full_name)
        assert found is not None, f"no repository {full_name} in the stand-in"
        return found

    def add_pull(self, full_name: str = DEFAULT_REPO, head_ref: str = "feature", login: str = "carol") -> Pull:
        """An open pull request from a new branch `head_ref` with one commit on it."""
        with self.lock:
            repo = self.repo(full_name)
            base = repo.branches[repo.default_branch]
            number, now = next(repo.numbers), self.world.clock()
            head = self.world.commit(repo, f"Work on {head_ref}").sha
            repo.branches[repo.default_branch], repo.branches[head_ref] = base, head  # the commit is the branch's
            author = self.world.user(login)
            item = Pull(
                next(self.world.ids), number, f"Pull request {number}", author, head_ref, head, repo.default_branch, now
            )
            repo.pulls[number] = item
            return item

    def add_issue(
        self,
        title: str,
        body: str = "",
        labels: tuple[str, ...] = (),
        login: str = "alice",
        full_name: str = DEFAULT_REPO,
    ) -> Issue:
        """An open issue written by `login`; its labels are created when missing."""
        with self.lock:
            repo, now = self.repo(full_name), self.world.clock()
            item = Issue(next(self.world.ids), next(repo.numbers), title, body, self.world.user(login), now, now)
            item.labels = [self.world.label(repo, name) for name in labels]
            repo.issues[item.number] = item
            return item

    def add_comment(self, number: int, body: str, login: str = "alice", full_name: str = DEFAULT_REPO) -> Comment:
        """A comment by `login` (who need not have a token) on issue `number`."""
        with self.lock:
            repo, now = self.repo(full_name), self.world.clock()
            item = Comment(next(self.world.ids), number, self.world.user(login), body, now, now)
            repo.comments[item.id] = item
            repo.issues[number].comments += 1
            return item
