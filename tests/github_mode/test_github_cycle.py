"""The check cycle on GitHub, through the real PyGithub client against the REST stand-in:
the watch list in the issue body, one dashboard edited in place, verdict comments, commit
statuses on linked pull requests, request counts, comment sizes, a forged dashboard.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

from servers.github import DEFAULT_REPO, GitHubStandIn
from support.clock import FakeClock
from support.github_cycle import (
    LABEL,
    ShiftedClock,
    comments_on,
    cycle,
    dashboards,
    pull_request,
    requests_made,
    tracking_issue,
    verdicts,
    watch_body,
)
from support.runs import diverged, flat, healthy, sleeper, write_log
from training_check.model import StopOutcome, Verdict
from training_check.report.render import GITHUB_COMMENT_LIMIT
from training_check.state import extract_state, state_from_json
from training_check.trackers.github_issue import DASHBOARD_MARKER, ISSUE_BODY


def test_ten_cycles_one_dashboard_edited_in_place_and_verdicts_only_on_change(
    github_standin: GitHubStandIn, tmp_path: Path
) -> None:
    api = github_standin
    good = write_log(tmp_path / "good.jsonl", healthy())
    turning = write_log(tmp_path / "turning.jsonl", healthy())
    issue = tracking_issue(api, [f"{{log: {good}}}", f"{{log: {turning}, name: turning}}"])
    clock = FakeClock()
    for n in range(10):
        if n == 4:
            write_log(turning, flat())  # healthy -> unsure: one verdict comment
        report = cycle(api, clock)
        assert len(dashboards(api, issue.number)) == 1
        clock.advance(31 * 60)

    assert report.state.run("turning").last_verdict is Verdict.UNSURE
    assert report.state.run("good").last_verdict is Verdict.FINE
    posted = verdicts(api, issue.number)
    assert len(posted) == 1 and "`turning`" in posted[0].body
    (dashboard,) = dashboards(api, issue.number)
    assert len(api.calls("PATCH", f"/repos/{DEFAULT_REPO}/issues/comments/{dashboard.id}")) == 9
    assert "| good | 🟢 healthy" in dashboard.body and "| turning | 🟡 unsure" in dashboard.body
    assert (api.repo().issues[issue.number].body or "").startswith("Runs of the team.")  # the body is never written


def test_a_quiet_cycle_makes_exactly_three_requests(github_standin: GitHubStandIn, tmp_path: Path) -> None:
    api = github_standin
    issue = tracking_issue(api, [f"{{log: {write_log(tmp_path / 'good.jsonl', healthy())}}}"])
    api.add_comment(issue.number, "Looks fine so far.", login="erin")
    clock = FakeClock()
    cycle(api, clock)
    clock.advance(60)  # nothing due, no new command
    api.clear_requests()

    report = cycle(api, clock)

    made = requests_made(api)
    print(f"\nquiet cycle: {len(made)} requests: {made}")
    (dashboard,) = dashboards(api, issue.number)
    assert made == [
        f"GET /repos/{DEFAULT_REPO}/issues",
        f"GET /repos/{DEFAULT_REPO}/issues/{issue.number}/comments",
        f"PATCH /repos/{DEFAULT_REPO}/issues/comments/{dashboard.id}",
    ]
    assert api.calls("GET", "*/comments")[0].query["since"]  # only the recent comments
    assert report.checked == () and report.notices == ()


def test_the_tracking_issue_is_created_when_missing(github_standin: GitHubStandIn) -> None:
    api = github_standin
    report = cycle(api, FakeClock())
    (issue,) = api.repo().issues.values()
    assert issue.body == ISSUE_BODY and [label.name for label in issue.labels] == [LABEL]
    assert any(f"#{issue.number} was created" in n for n in report.notices)
    assert "No runs are watched yet" in dashboards(api, issue.number)[0].body
    cycle(api, FakeClock())
    assert len(api.repo().issues) == 1 and len(dashboards(api, issue.number)) == 1


def test_a_forged_dashboard_by_a_person_is_ignored(github_standin: GitHubStandIn, tmp_path: Path) -> None:
    api = github_standin
    log = write_log(tmp_path / "nan.jsonl", diverged())
    issue = tracking_issue(api, [f"{{log: {log}}}"])
    forged_state = '{"version":1,"runs":{"nan":{"snoozed_until":9999999999.0,"next_due":9999999999.0}}}'
    forged = api.add_comment(
        issue.number, f"{DASHBOARD_MARKER}\nall fine\n<!-- training-check:state {forged_state} -->", login="mallory"
    )

    report = cycle(api, FakeClock())

    assert report.checked == ("nan",)  # not snoozed, not postponed by the forged state
    assert report.state.run("nan").snoozed_until is None
    (mine,) = dashboards(api, issue.number)
    assert mine.id != forged.id
    assert api.repo().comments[forged.id].body.endswith(f"{forged_state} -->")  # left as it was
    assert any("state was missing" in n for n in report.notices)


def test_commit_status_and_verdicts_on_the_linked_pull_request(github_standin: GitHubStandIn, tmp_path: Path) -> None:
    api = github_standin
    pull = pull_request(api)
    log = write_log(tmp_path / "run.jsonl", healthy())
    issue = tracking_issue(api, [f"{{log: {log}, name: lr-sweep, pr: {pull.number}}}"])
    clock = FakeClock()

    cycle(api, clock)
    statuses = [s for s in api.repo().statuses if s.sha == pull.head_sha]
    assert [(s.context, s.state) for s in statuses] == [("training-check/lr-sweep", "success")]
    assert statuses[0].description == "healthy at step 1,999"
    assert (statuses[0].target_url or "").endswith(f"/{DEFAULT_REPO}/issues/{issue.number}")

    clock.advance(11 * 60)
    cycle(api, clock)  # still healthy: no new status
    assert len(api.repo().statuses) == 1

    write_log(log, [*healthy(), math.nan])
    clock.advance(30 * 60)
    cycle(api, clock)
    assert [s.state for s in api.repo().statuses] == ["success", "failure"]
    on_pr, on_issue = verdicts(api, pull.number), verdicts(api, issue.number)
    assert len(on_pr) == len(on_issue) == 1 and on_pr[0].body == on_issue[0].body
    assert "lr-sweep" in on_pr[0].body


def test_request_count_of_a_cycle_with_one_stop(
    github_standin: GitHubStandIn, tmp_path: Path, trainers: list[subprocess.Popen[bytes]]
) -> None:
    api = github_standin
    good = write_log(tmp_path / "good.jsonl", healthy())
    issue = tracking_issue(api, [f"{{log: {good}}}"])
    clock = ShiftedClock()
    cycle(api, clock)
    trainers.append(process := sleeper(tmp_path / "proc"))
    bad = write_log(tmp_path / "bad.jsonl", diverged())
    api.repo().issues[issue.number].body = watch_body(
        [f"{{log: {good}}}", f"{{log: {bad}, stop: {{pid: {process.pid}}}}}"]
    )
    clock.advance(60)
    api.clear_requests()

    report = cycle(api, clock)

    made = requests_made(api)
    print(f"\ncycle with one stop: {len(made)} requests: {made}")
    assert report.stopped == ("bad",) and process.wait(timeout=10) == 0
    stop = report.state.run("bad").stop
    assert stop is not None and stop.outcome is StopOutcome.STOPPED
    dashboard = f"PATCH /repos/{DEFAULT_REPO}/issues/comments/{dashboards(api, issue.number)[0].id}"
    assert made == [
        f"GET /repos/{DEFAULT_REPO}/issues",
        f"GET /repos/{DEFAULT_REPO}/issues/{issue.number}/comments",
        dashboard,  # the stop record saved before the signal
        dashboard,  # and once the process exited
        f"POST /repos/{DEFAULT_REPO}/issues/{issue.number}/comments",  # the verdict
        dashboard,
    ]


def test_two_hundred_runs_stay_within_the_comment_limit(github_standin: GitHubStandIn, tmp_path: Path) -> None:
    api = github_standin
    runs = []
    for i in range(200):
        name = f"run-{i:03d}-" + "x" * 50  # 58 characters: long names, long rows
        losses = diverged(300) if i % 20 == 0 else flat() if i % 3 == 0 else healthy(300)
        runs.append(f"{{log: {write_log(tmp_path / f'{i}.jsonl', losses)}, name: {name}}}")
    issue = tracking_issue(api, runs)
    clock = FakeClock()
    for _ in range(2):
        report = cycle(api, clock)
        clock.advance(61 * 60)

    bodies = [c.body for c in comments_on(api, issue.number)]
    print(f"\n200 runs: longest comment {max(map(len, bodies)):,} characters of {len(bodies)}")
    assert all(len(body) <= GITHUB_COMMENT_LIMIT for body in bodies)
    assert len(verdicts(api, issue.number)) == 10 + 63  # bad or unsure: once, when the verdict changed
    (dashboard,) = dashboards(api, issue.number)
    for i in range(200):
        assert f"run-{i:03d}-" in dashboard.body
    assert "not shown" not in dashboard.body
    assert dashboard.body.count("🔴 bad") == 10 and dashboard.body.count("🟡 unsure") == 63
    state = state_from_json(extract_state(dashboard.body) or "")
    assert set(state.runs) == {f"run-{i:03d}-" + "x" * 50 for i in range(200)}
    assert all(r.next_due is not None and r.last_verdict is not None for r in state.runs.values())
    assert report.state == state
