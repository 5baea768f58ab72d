"""The GitHub stand-in, driven by the real PyGithub client: what the product will do on a
tracking issue, on pull requests and on its workflow file, plus faults — and proof that
every response is really validated against GitHub's OpenAPI description.
"""

from __future__ import annotations

import http.client
import json
import time

import pytest
import requests
from github import GithubException, GithubRetry, RateLimitExceededException, UnknownObjectException
from github.GithubException import BadCredentialsException

from servers.fetch_github_openapi import VERSION
from servers.github import (
    ADMIN_TOKEN,
    BOT_TOKEN,
    DEFAULT_REPO,
    PEOPLE,
    WORKFLOW,
    Fault,
    GitHubStandIn,
    load_spec,
)

LABEL = "training-check"


def test_the_spec_is_the_pinned_version() -> None:
    spec = load_spec()
    assert spec.document["openapi"] == "3.0.3"
    assert spec.document["info"]["version"] == VERSION
    assert load_spec() is spec  # parsed once per session


def test_tracking_issue_is_created_and_found_by_label(github_standin: GitHubStandIn) -> None:
    repo = github_standin.client().get_repo(DEFAULT_REPO)
    with pytest.raises(UnknownObjectException):
        repo.get_label(LABEL)
    label = repo.create_label(LABEL, "0e8a16", "Tracking issue of training-check")
    with pytest.raises(GithubException) as exists:
        repo.create_label(LABEL, "0e8a16")
    assert exists.value.status == 422
    repo.create_issue("Unrelated", body="no label")
    tracking = repo.create_issue("Training runs", body="- run-1\n", labels=[label])

    found = list(repo.get_issues(state="open", labels=[repo.get_label(LABEL)]))
    assert [issue.number for issue in found] == [tracking.number]
    assert found[0].user.login == "github-actions[bot]" and found[0].user.type == "Bot"

    tracking.edit(body="- run-1\n- run-2\n", title="Training runs (2)")
    again = repo.get_issue(tracking.number)
    assert (again.body, again.title, [x.name for x in again.labels]) == (
        "- run-1\n- run-2\n",
        "Training runs (2)",
        [LABEL],
    )
    again.edit(state="closed")
    assert list(repo.get_issues(state="open", labels=[LABEL])) == []
    assert [i.number for i in repo.get_issues(state="closed", labels=[LABEL])] == [tracking.number]


def test_250_comments_are_walked_through_link_headers(github_standin: GitHubStandIn) -> None:
    issue = github_standin.add_issue("Training runs", labels=(LABEL,))
    for n in range(250):
        github_standin.add_comment(issue.number, f"comment {n}", login=("dave" if n % 2 else "erin"))
    gh = github_standin.client()
    tracking = gh.get_repo(DEFAULT_REPO).get_issue(issue.number)
    github_standin.clear_requests()

    bodies = [comment.body for comment in tracking.get_comments()]
    assert bodies == [f"comment {n}" for n in range(250)]
    pages = github_standin.calls("GET", "*/comments")
    assert len(pages) == 9  # 30 a page, GitHub's default
    assert [call.query.get("page") for call in pages] == [None, *map(str, range(2, 10))]

    github_standin.clear_requests()
    wide = github_standin.client(per_page=100).get_repo(DEFAULT_REPO).get_issue(issue.number)
    assert len(list(wide.get_comments())) == 250
    assert len(github_standin.calls("GET", "*/comments")) == 3
    assert tracking.get_comments().totalCount == 250  # PyGithub reads the `last` link


def test_link_header_has_next_last_and_urls_on_the_callers_host(github_standin: GitHubStandIn) -> None:
    issue = github_standin.add_issue("Training runs")
    for n in range(5):
        github_standin.add_comment(issue.number, f"c{n}")
    port = int(github_standin.base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    headers = {"Host": "api.example.test:8443", "Authorization": f"Bearer {BOT_TOKEN}"}
    connection.request(
        "GET", f"/repos/{DEFAULT_REPO}/issues/{issue.number}/comments?per_page=2&page=2", headers=headers
    )
    answer = connection.getresponse()
    body = json.loads(answer.read())
    connection.close()
    assert answer.status == 200 and len(body) == 2
    base = f"http://api.example.test:8443/repos/{DEFAULT_REPO}/issues/{issue.number}/comments"
    assert answer.headers["link"] == (
        f'<{base}?per_page=2&page=1>; rel="prev", <{base}?per_page=2&page=3>; rel="next", '
        f'<{base}?per_page=2&page=3>; rel="last", <{base}?per_page=2&page=1>; rel="first"'
    )
    assert body[0]["html_url"].startswith("http://api.example.test:8443/octo-org/trainer/issues/")


def test_comments_since_a_time(github_standin: GitHubStandIn) -> None:
    issue = github_standin.add_issue("Training runs")
    old = github_standin.add_comment(issue.number, "old")
    new = github_standin.add_comment(issue.number, "new")
    tracking = github_standin.client().get_repo(DEFAULT_REPO).get_issue(issue.number)
    assert [c.id for c in tracking.get_comments(since=old.created_at)] == [old.id, new.id]
    assert [c.id for c in tracking.get_comments(since=new.created_at)] == [new.id]
    tracking.get_comment(old.id).edit("old, edited")  # editing moves updated_at: `since` sees it again
    assert [c.body for c in tracking.get_comments(since=new.updated_at)] == ["old, edited", "new"]  # oldest first


def test_dashboard_comment_edited_in_place_and_commands_get_reactions(github_standin: GitHubStandIn) -> None:
    issue = github_standin.add_issue("Training runs")
    command = github_standin.add_comment(issue.number, "/training-check stop run-1", login="carol")
    repo = github_standin.client().get_repo(DEFAULT_REPO)
    tracking = repo.get_issue(issue.number)
    dashboard = tracking.create_comment("## Dashboard\n(empty)")
    dashboard.edit("## Dashboard\nrun-1: healthy")
    assert repo.get_issue(issue.number).get_comment(dashboard.id).body == "## Dashboard\nrun-1: healthy"
    assert repo.get_issue(issue.number).comments == 2

    seen = tracking.get_comment(command.id)
    assert seen.user.login == "carol"
    first = seen.create_reaction("eyes")
    assert seen.create_reaction("eyes").id == first.id  # reacting twice is answered with the first one
    seen.create_reaction("+1")
    github_standin.add_token("ghp_dave", "dave")
    github_standin.client("ghp_dave").get_repo(DEFAULT_REPO).get_issue(issue.number).get_comment(
        command.id
    ).create_reaction("eyes")
    assert sorted((r.user.login, r.content) for r in seen.get_reactions()) == [
        ("dave", "eyes"),
        ("github-actions[bot]", "+1"),
        ("github-actions[bot]", "eyes"),
    ]
    summary = tracking.get_comment(command.id).raw_data["reactions"]
    assert (summary["total_count"], summary["eyes"], summary["+1"], summary["rocket"]) == (3, 2, 1, 0)


def test_permission_of_each_role(github_standin: GitHubStandIn) -> None:
    repo = github_standin.client().get_repo(DEFAULT_REPO)
    expected = {"alice": "admin", "bob": "write", "carol": "write", "dave": "read", "erin": "read"}
    for login, role in PEOPLE.items():
        assert repo.get_collaborator_permission(login) == expected[login]
        assert repo.get_collaborator_role_name(login) == role
    assert repo.get_collaborator_permission("octo-org") == "admin"  # the owner
    assert repo.get_collaborator_permission("mallory") == "read"  # anyone reads a public repository
    with pytest.raises(UnknownObjectException):
        repo.get_collaborator_permission("nobody-at-all")

    github_standin.add_repo("octo-org/secret", roles={"alice": "admin"}, private=True)
    secret = github_standin.client(ADMIN_TOKEN).get_repo("octo-org/secret")
    assert secret.get_collaborator_permission("mallory") == "none"
    assert secret.get_collaborator_role_name("dave") == "none"  # a role elsewhere counts for nothing here


def test_commit_status_on_a_pull_request_head(github_standin: GitHubStandIn) -> None:
    pull = github_standin.add_pull(head_ref="bigger-lr")
    repo = github_standin.client().get_repo(DEFAULT_REPO)
    head = repo.get_pull(pull.number).head
    assert (head.ref, head.sha) == ("bigger-lr", pull.head_sha)
    commit = repo.get_commit(head.sha)
    commit.create_status("pending", description="watching 2 runs", context="training-check")
    commit.create_status("failure", "http://dashboard.example/1", "run-1 diverged", "training-check")
    commit.create_status("success", description="lint", context="lint")

    statuses = list(commit.get_statuses())
    assert [(s.state, s.context) for s in statuses] == [
        ("success", "lint"),
        ("failure", "training-check"),
        ("pending", "training-check"),
    ]
    assert statuses[1].creator.login == "github-actions[bot]"
    combined = repo.get_commit("bigger-lr").get_combined_status()  # a branch name works as the ref
    assert (combined.state, combined.total_count, combined.sha) == ("failure", 2, pull.head_sha)
    with pytest.raises(GithubException) as unknown:
        repo.get_commit(pull.head_sha).create_status("bogus")
    assert unknown.value.status == 422


def test_workflow_file_updated_through_contents(github_standin: GitHubStandIn) -> None:
    repo = github_standin.client(ADMIN_TOKEN).get_repo(DEFAULT_REPO)
    current = repo.get_contents(WORKFLOW)
    assert not isinstance(current, list)
    text = current.decoded_content.decode().replace("*/30 * * * *", "*/10 * * * *")
    result = repo.update_file(WORKFLOW, "training-check: check every 10 minutes", text, current.sha)
    assert github_standin.repo().files[WORKFLOW].content.decode() == text
    assert github_standin.repo().files[WORKFLOW].commits[-1] == "training-check: check every 10 minutes"
    updated = repo.get_contents(WORKFLOW)
    assert not isinstance(updated, list) and updated.sha == result["content"].sha != current.sha
    assert github_standin.repo().branches["main"] == result["commit"].sha  # the branch moved to the new commit

    with pytest.raises(GithubException) as stale:
        repo.update_file(WORKFLOW, "again", text + "# x\n", current.sha)
    assert stale.value.status == 409
    assert stale.value.data["message"] == f"{WORKFLOW} does not match {current.sha}"


def test_workflow_file_refused_without_the_workflow_grant(github_standin: GitHubStandIn) -> None:
    sha = github_standin.repo().files[WORKFLOW].sha
    bot = github_standin.client(BOT_TOKEN).get_repo(DEFAULT_REPO)
    with pytest.raises(GithubException) as app:
        bot.update_file(WORKFLOW, "cron", "x", sha)
    assert app.value.status == 403
    assert app.value.data["message"] == (
        f"refusing to allow a GitHub App to create or update workflow `{WORKFLOW}` without `workflows` permission"
    )
    github_standin.add_token("gho_no_workflow", "carol", kind="oauth", workflow=False)
    oauth = github_standin.client("gho_no_workflow").get_repo(DEFAULT_REPO)
    with pytest.raises(GithubException) as scope:
        oauth.update_file(WORKFLOW, "cron", "x", sha)
    assert scope.value.data["message"].endswith("without `workflow` scope")
    assert github_standin.repo().files[WORKFLOW].sha == sha  # nothing was written
    bot.create_file("notes/cron.txt", "a file outside workflows is fine", "x")  # 201, a new file


def test_server_error_then_success(github_standin: GitHubStandIn) -> None:
    repo = github_standin.client().get_repo(DEFAULT_REPO)
    github_standin.inject(Fault.server_error(500), method="GET", path="/repos/*/issues")
    with pytest.raises(GithubException) as failed:
        list(repo.get_issues())
    assert failed.value.status == 500
    assert list(repo.get_issues()) == []  # the fault was spent on one request

    github_standin.inject(Fault.server_error(502), times=2)
    retrying = github_standin.client(retry=GithubRetry(total=3, backoff_factor=0))
    github_standin.clear_requests()
    assert retrying.get_repo(DEFAULT_REPO).full_name == DEFAULT_REPO
    assert len(github_standin.calls("GET", f"/repos/{DEFAULT_REPO}")) == 3


def test_rate_limit_403_with_retry_after(github_standin: GitHubStandIn) -> None:
    gh = github_standin.client()
    github_standin.inject(Fault.rate_limited(retry_after=1))
    with pytest.raises(RateLimitExceededException) as limited:
        gh.get_repo(DEFAULT_REPO)
    headers = {k.lower(): v for k, v in (limited.value.headers or {}).items()}
    assert (headers["retry-after"], headers["x-ratelimit-remaining"]) == ("1", "0")
    assert int(headers["x-ratelimit-reset"]) >= int(time.time())

    github_standin.inject(Fault.rate_limited(retry_after=1))
    started = time.monotonic()
    retrying = github_standin.client(retry=GithubRetry(total=2, backoff_factor=0))
    assert retrying.get_repo(DEFAULT_REPO).name == "trainer"  # waited out retry-after, then succeeded
    assert time.monotonic() - started >= 1

    github_standin.inject(Fault.too_many_requests(retry_after=1))
    with pytest.raises(GithubException) as too_many:
        gh.get_repo(DEFAULT_REPO)
    assert too_many.value.status == 429
    assert gh.get_rate_limit().resources.core.remaining < 5000


def test_slow_answer_times_the_client_out(github_standin: GitHubStandIn) -> None:
    github_standin.inject(Fault.slow(3.0), path=f"/repos/{DEFAULT_REPO}")
    with pytest.raises(requests.exceptions.Timeout):
        github_standin.client(timeout=1).get_repo(DEFAULT_REPO)  # PyGithub takes whole seconds


def test_authentication_is_required(github_standin: GitHubStandIn) -> None:
    with pytest.raises(BadCredentialsException):
        github_standin.client("ghp_wrong").get_repo(DEFAULT_REPO)
    port = int(github_standin.base_url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", f"/repos/{DEFAULT_REPO}")
    answer = connection.getresponse()
    assert (answer.status, json.loads(answer.read())["message"]) == (401, "Requires authentication")
    connection.close()


def test_several_repositories_keep_their_own_state(github_standin: GitHubStandIn) -> None:
    github_standin.add_repo("octo-org/other", roles={"alice": "admin"})
    gh = github_standin.client(ADMIN_TOKEN)
    first, other = gh.get_repo(DEFAULT_REPO), gh.get_repo("octo-org/other")
    assert first.create_issue("a").number == other.create_issue("b").number == 1
    assert [i.title for i in other.get_issues()] == ["b"]
    with pytest.raises(UnknownObjectException):
        gh.get_repo("octo-org/missing")


def test_requests_are_recorded_per_cycle(github_standin: GitHubStandIn) -> None:
    issue = github_standin.add_issue("Training runs")
    repo = github_standin.client().get_repo(DEFAULT_REPO)
    github_standin.clear_requests()
    repo.get_issue(issue.number).create_comment("verdict: healthy")
    assert [(c.method, c.path) for c in github_standin.requests] == [
        ("GET", f"/repos/{DEFAULT_REPO}/issues/{issue.number}"),
        ("POST", f"/repos/{DEFAULT_REPO}/issues/{issue.number}/comments"),
    ]
    assert github_standin.calls("POST")[0].body == {"body": "verdict: healthy"}
    assert github_standin.calls("POST")[0].headers["authorization"] == f"token {BOT_TOKEN}"


def test_a_response_that_breaks_the_spec_is_caught(github_standin: GitHubStandIn) -> None:
    issue = github_standin.add_issue("Training runs")
    tracking = github_standin.client().get_repo(DEFAULT_REPO).get_issue(issue.number)
    github_standin.tamper_next(lambda body: {k: v for k, v in body.items() if k != "id"})  # a comment without id
    with pytest.raises(GithubException) as broken:
        tracking.create_comment("no id")
    assert broken.value.status == 599
    assert len(github_standin.violations) == 1
    assert "POST /repos/{owner}/{repo}/issues/{issue_number}/comments → 201" in github_standin.violations[0]
    assert "'id' is a required property" in github_standin.violations[0]
    with pytest.raises(AssertionError, match="break GitHub's OpenAPI spec"):
        github_standin.assert_conforms()  # what the fixture's teardown checks

    github_standin.inject(Fault(404, {"message": 404}))  # error bodies are held to the spec too
    with pytest.raises(GithubException) as broken_error:
        tracking.create_comment("again")
    assert broken_error.value.status == 599
    assert "→ 404: 404 is not of type 'string'" in github_standin.violations[1]

    with pytest.raises(UnknownObjectException):  # an endpoint GitHub has but the stand-in lacks
        github_standin.client().get_repo(DEFAULT_REPO).get_milestone(1)
    assert github_standin.violations[2].endswith("the stand-in does not implement it")
    github_standin.violations.clear()  # this test's violations were on purpose


def test_validation_knows_nullable_and_types() -> None:
    spec = load_spec()
    path = f"/repos/{DEFAULT_REPO}/issues/comments/1"
    with GitHubStandIn(spec) as api:
        api.add_repo(DEFAULT_REPO)
        api.add_token("t", "alice")
        api.add_issue("x")
        good = api.client("t").get_repo(DEFAULT_REPO).get_issue(1).create_comment("fine").raw_data
    assert spec.violation("GET", path, 200, good) is None
    assert spec.violation("GET", path, 200, {**good, "user": None}) is None  # nullable-simple-user
    assert "is not of type 'integer'" in str(spec.violation("GET", path, 200, {**good, "id": "1"}))
    assert "not a 'date-time'" in str(spec.violation("GET", path, 200, {**good, "created_at": "yesterday"}))
    assert "no such operation" in str(spec.violation("GET", "/repos/a/b/nothing-here", 200, {}))


def test_the_spec_flaw_worked_around_is_still_there() -> None:
    """The contents-PUT 409 override (openapi.OVERRIDES) is needed only while the spec's
    `oneOf` rejects GitHub's real 409 body; this fails once a spec version fixes it."""
    spec = load_spec()
    body = {"message": "x does not match y", "documentation_url": "https://docs.github.com/rest", "status": "409"}
    as_published = spec.at(
        "#/paths/~1repos~1{owner}~1{repo}~1contents~1{path}/put/responses/409/content/application~1json/schema"
    )
    assert not as_published.is_valid(body)  # both branches of its `oneOf` match, so `oneOf` fails
    assert spec.at("#/components/schemas/basic-error").is_valid(body)
    assert spec.violation("PUT", f"/repos/{DEFAULT_REPO}/contents/a.txt", 409, body) is None


def test_shutdown_is_quick_with_keep_alive_connections() -> None:
    with GitHubStandIn() as api:
        api.add_repo(DEFAULT_REPO)
        api.add_token("t", "alice")
        api.client("t").get_repo(DEFAULT_REPO)  # leaves an idle keep-alive connection open
        started = time.monotonic()
    assert time.monotonic() - started < 1  # not the handler's 30 s read timeout
