"""Commands typed in comments, through the real PyGithub client against the REST stand-in:
permissions, reactions, replies, stops of real processes, snoozes, watch-list edits, and
never handling a comment twice.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from servers.github import DEFAULT_REPO, GitHubStandIn
from servers.github.state import START, TickingClock
from support.clock import FakeClock
from support.github_cycle import (
    LABEL,
    ShiftedClock,
    cycle,
    dashboards,
    event_for,
    github_parts,
    github_tracker,
    pull_request,
    reactions,
    replies,
    requests_made,
    tracking_issue,
    verdicts,
)
from support.runs import diverged, healthy, sleeper, write_log
from training_check.cycle import run_cycle
from training_check.model import StopOutcome
from training_check.trackers.github_inbox import GitHubInbox
from training_check.trackers.github_issue import GitHubTracker


def test_stop_needs_permission_then_stops_the_real_process(
    github_standin: GitHubStandIn, tmp_path: Path, trainers: list[subprocess.Popen[bytes]]
) -> None:
    api = github_standin
    trainers.append(process := sleeper(tmp_path / "proc"))
    log = write_log(tmp_path / "good.jsonl", healthy())
    issue = tracking_issue(api, [f"{{log: {log}, stop: {{pid: {process.pid}}}}}"])
    clock = ShiftedClock()
    cycle(api, clock)
    stranger = api.add_comment(issue.number, "/stop good", login="erin")  # `read`
    clock.advance(60)

    report = cycle(api, clock)

    assert report.stopped == () and process.poll() is None
    assert not (tmp_path / "proc" / "got_SIGINT").exists()
    assert reactions(api, stranger) == ["confused"]
    (refusal,) = replies(api, issue.number)
    assert "Sorry @erin" in refusal.body and "`write`" in refusal.body and "`read`" in refusal.body

    writer = api.add_comment(issue.number, "/stop good the loss looks off", login="carol")  # `write`
    clock.advance(60)
    api.clear_requests()
    report = cycle(api, clock)

    made = requests_made(api)
    print(f"\ncycle with a /stop command: {len(made)} requests: {made}")
    assert report.stopped == ("good",)
    assert process.wait(timeout=10) == 0 and (tmp_path / "proc" / "got_SIGINT").exists()
    assert reactions(api, writer) == ["eyes", "rocket"]
    stop = report.state.run("good").stop
    assert stop is not None and stop.outcome is StopOutcome.STOPPED
    assert (stop.by, stop.reason) == ("@carol", "the loss looks off")
    assert len(replies(api, issue.number)) == 1  # only the refusal: success speaks through 🚀
    assert "by @\u200bcarol" in verdicts(api, issue.number)[-1].body


def test_snooze_all_holds_stops_and_verdicts_until_it_ends(
    github_standin: GitHubStandIn, tmp_path: Path, trainers: list[subprocess.Popen[bytes]]
) -> None:
    api = github_standin
    trainers.append(process := sleeper(tmp_path / "proc"))
    bad = write_log(tmp_path / "nan.jsonl", diverged())
    good = write_log(tmp_path / "good.jsonl", healthy())
    issue = tracking_issue(api, [f"{{log: {bad}, stop: {{pid: {process.pid}}}}}", f"{{log: {good}}}"])
    command = api.add_comment(issue.number, "/snooze all 2h", login="carol")
    clock = ShiftedClock()

    for _ in range(2):
        report = cycle(api, clock)
        assert "nan" in report.checked  # checks still run
        assert report.stopped == () and process.poll() is None
        assert verdicts(api, issue.number) == []
        (dashboard,) = dashboards(api, issue.number)
        assert "| nan | ⏸ snoozed: by @\u200bcarol until" in dashboard.body
        clock.advance(3600 - 60)
    assert reactions(api, command) == ["eyes", "rocket"]
    assert report.state.run("nan").last_checked == pytest.approx(clock.now() - 3540, abs=5)  # updated

    clock.advance(120)  # 2 h and a minute after the command
    report = cycle(api, clock)

    assert report.stopped == ("nan",) and process.wait(timeout=10) == 0
    (posted,) = verdicts(api, issue.number)
    assert "`nan` stopped" in posted.body


def test_a_command_from_the_event_and_the_scan_is_handled_once(github_standin: GitHubStandIn) -> None:
    api = github_standin
    pull = pull_request(api)
    issue = tracking_issue(api, [f"{{log: /nowhere/a.jsonl, pr: {pull.number}}}"])
    on_issue = api.add_comment(issue.number, "/help", login="carol")
    clock = FakeClock()

    cycle(api, clock, event=event_for(api, on_issue))  # the issue_comment trigger
    cycle(api, clock)  # the schedule, minutes later
    cycle(api, clock, event=event_for(api, on_issue))  # a re-delivered event

    (answer,) = replies(api, issue.number)
    assert "`/stop <run> [reason…]`" in answer.body
    assert reactions(api, on_issue) == ["eyes", "rocket"]

    on_pull = api.add_comment(pull.number, "/status", login="bob")
    cycle(api, clock, event=event_for(api, on_pull, on_pull=True))
    cycle(api, clock)
    (table,) = replies(api, pull.number)
    assert "| a | ⚠️ unreachable" in table.body
    assert "training-check:dashboard" not in table.body  # never a second dashboard
    assert len(dashboards(api, issue.number)) == 1 and dashboards(api, pull.number) == []


def test_commands_on_a_linked_pull_request_are_found_by_the_scan(github_standin: GitHubStandIn) -> None:
    api = github_standin
    pull = pull_request(api)
    issue = tracking_issue(api, [f"{{log: /nowhere/a.jsonl, pr: {pull.number}}}"])
    clock = FakeClock()
    cycle(api, clock)
    command = api.add_comment(pull.number, "/check a", login="carol")
    clock.advance(60)
    api.clear_requests()

    report = cycle(api, clock)

    assert report.checked == ("a",)  # forced, though not due
    assert reactions(api, command) == ["eyes", "rocket"]
    assert f"GET /repos/{DEFAULT_REPO}/issues/{pull.number}/comments" in requests_made(api)
    assert dashboards(api, issue.number)


class EditedMeanwhile(GitHubTracker):
    """A tracker whose issue body a person edits after the cycle read it."""

    def __init__(self, api: GitHubStandIn, number: int, edit: str) -> None:
        super().__init__(github_tracker(api).connection, LABEL)
        self.api, self.number, self.edit = api, number, edit

    def inbox(self, event: Mapping[str, Any] | None) -> GitHubInbox:
        with self.api.lock:
            issue = self.api.repo().issues[self.number]
            issue.body = (issue.body or "") + self.edit
        return super().inbox(event)


def test_watch_and_unwatch_edit_the_body_and_keep_a_concurrent_edit(github_standin: GitHubStandIn) -> None:
    api = github_standin
    pull = pull_request(api)
    issue = tracking_issue(api, ["{log: /data/a.jsonl}  # the first run"])
    clock = FakeClock()
    watch = api.add_comment(pull.number, "/watch team/proj/r42 host=gpu1 pid=4242", login="carol")

    tracker = EditedMeanwhile(api, issue.number, "\nNote: gpu1 is busy this week.\n")
    report = run_cycle(github_parts(tracker, clock), event=event_for(api, watch, on_pull=True))

    body = api.repo().issues[issue.number].body or ""
    assert "Note: gpu1 is busy this week." in body  # the human's edit survived
    assert "- {log: /data/a.jsonl}  # the first run" in body  # and the block's comment
    assert f"  - wandb: team/proj/r42\n    host: gpu1\n    stop: {{pid: 4242}}\n    pr: {pull.number}\n" in body
    assert [v.name for v in report.views] == ["a", "r42"]
    assert reactions(api, watch) == ["eyes", "rocket"]

    unwatch = api.add_comment(issue.number, "/unwatch r4", login="carol")  # a prefix is enough
    tracker = EditedMeanwhile(api, issue.number, "\nAnd gpu2 from Monday.\n")
    clock.advance(60)
    report = run_cycle(github_parts(tracker, clock))

    body = api.repo().issues[issue.number].body or ""
    assert "team/proj/r42" not in body and "- {log: /data/a.jsonl}" in body
    assert "Note: gpu1 is busy this week." in body and "And gpu2 from Monday." in body
    assert [v.name for v in report.views] == ["a"] and "r42" not in report.state.runs
    assert reactions(api, unwatch) == ["eyes", "rocket"]


def test_what_cannot_be_done_gets_a_confused_reaction_and_a_reason(github_standin: GitHubStandIn) -> None:
    api = github_standin
    issue = tracking_issue(api, ["{log: /data/alpha.jsonl}"])
    unknown = api.add_comment(issue.number, "/stop beta", login="carol")
    typo = api.add_comment(issue.number, "/snoze all 2h", login="carol")
    no_handle = api.add_comment(issue.number, "/stop alpha", login="carol")
    edited = api.add_comment(issue.number, "/snooze all 1h", login="carol")
    with api.lock:
        edited.updated_at = edited.created_at + timedelta(minutes=2)
    flood = [api.add_comment(issue.number, f"/stop alpha {n}", login="mallory") for n in range(3)]
    chat = api.add_comment(issue.number, "/usr/bin/python crashed again", login="carol")

    report = cycle(api, FakeClock())

    answers = [r.body for r in replies(api, issue.number)]
    assert len(answers) == 5  # one per confused command, one refusal for the flood
    assert "No watched run matches `beta`" in answers[0]
    assert "did you mean `/snooze`" in answers[1]
    assert "no `stop:` handle" in answers[2]
    assert "edited" in answers[3] and "new comment" in answers[3]
    assert "Sorry @mallory" in answers[4]
    for comment in (unknown, typo, no_handle, edited):
        assert reactions(api, comment) == ["eyes", "confused"]
    assert [reactions(api, c) for c in flood] == [["confused"]] * 3
    assert reactions(api, chat) == []
    assert report.state.run("alpha").snoozed_until is None and report.stopped == ()


def test_a_lost_state_does_not_run_answered_commands_again(github_standin: GitHubStandIn) -> None:
    api = github_standin
    issue = tracking_issue(api, ["{log: /data/alpha.jsonl}"])
    api.add_comment(issue.number, "/help", login="carol")
    clock = FakeClock()
    cycle(api, clock)
    (dashboard,) = dashboards(api, issue.number)
    with api.lock:  # someone deletes the dashboard, and the state with it
        del api.repo().comments[dashboard.id]
        api.repo().issues[issue.number].comments -= 1
    fresh = api.add_comment(issue.number, "/help", login="bob")

    report = cycle(api, clock)

    assert any("state was missing" in n for n in report.notices)
    assert len(replies(api, issue.number)) == 2  # the old /help is not answered again; the new one is
    assert reactions(api, fresh) == ["eyes", "rocket"]
    assert len(dashboards(api, issue.number)) == 1


def test_after_a_long_pause_the_comments_are_listed_again(github_standin: GitHubStandIn) -> None:
    api = github_standin
    issue = tracking_issue(api, ["{log: /data/alpha.jsonl}"])
    clock = FakeClock()
    cycle(api, clock)
    api.world.clock = TickingClock(START + timedelta(days=3))  # three days without a cycle
    command = api.add_comment(issue.number, "/help", login="carol")
    with api.lock:  # GitHub moves an issue's updated_at with each new comment (the seeding helper does not)
        api.repo().issues[issue.number].updated_at = command.created_at
    api.clear_requests()

    cycle(api, clock)

    made = requests_made(api)
    print(f"\ncycle after a 3-day pause with one command: {len(made)} requests: {made}")
    listings = api.calls("GET", f"/repos/{DEFAULT_REPO}/issues/{issue.number}/comments")
    assert len(listings) == 2 and "since" not in listings[1].query  # the dashboard was older than the look-back
    assert reactions(api, command) == ["eyes", "rocket"] and len(replies(api, issue.number)) == 1
    assert len(dashboards(api, issue.number)) == 1
