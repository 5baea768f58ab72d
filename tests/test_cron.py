"""The cron that follows the runs: offsets that avoid :00 and :30, and a byte-exact rewrite."""

from __future__ import annotations

import pytest

from training_check.cron import cron_for, current_cron, minute_offset, rewrite_cron

WORKFLOW = """name: training-check
on:
  schedule:
    - cron: '7 */6 * * *'   # rewritten by training-check
  issue_comment:
    types: [created]
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - run: echo "cron: '0 0 * * *' is just text here"
"""


def minutes_of(expression: str) -> list[int]:
    field = expression.split(maxsplit=1)[0]
    if "-" in field:
        start, step = field.split("-")[0], field.split("/")[1]
        return list(range(int(start), 60, int(step)))
    return [int(field)]


@pytest.mark.parametrize("repo", ["alice/llm", "org/vision", "x/y", "team/training-check"])
@pytest.mark.parametrize("interval", [10, 20, 30, 60])
def test_minutes_never_fall_on_00_or_30(repo: str, interval: int) -> None:
    expression = cron_for([interval, 120], repo)
    minutes = minutes_of(expression)
    assert 0 not in minutes and 30 not in minutes
    assert 1 <= minute_offset(repo) <= 9


def test_shortest_interval_wins_and_dormant_when_nothing_is_watched() -> None:
    assert cron_for([60, 10, 30], "a/b") == f"{minute_offset('a/b')}-59/10 * * * *"
    assert cron_for([60], "a/b") == f"{minute_offset('a/b')} * * * *"
    assert cron_for([], "a/b") == f"{minute_offset('a/b') + 10} */6 * * *"


def test_rewrite_changes_only_the_cron_expression() -> None:
    rewritten = rewrite_cron(WORKFLOW, "3-59/10 * * * *")
    assert current_cron(rewritten) == "3-59/10 * * * *"
    before, after = WORKFLOW.splitlines(keepends=True), rewritten.splitlines(keepends=True)
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert changed == [("    - cron: '7 */6 * * *'   # rewritten by training-check\n",
                        "    - cron: '3-59/10 * * * *'   # rewritten by training-check\n")]  # fmt: skip


def test_rewrite_refuses_garbage_and_files_without_cron() -> None:
    with pytest.raises(ValueError, match="not a cron"):
        rewrite_cron(WORKFLOW, "* * * * *'; rm -rf /")
    with pytest.raises(ValueError, match="no `cron:` line"):
        rewrite_cron("on: push\n", "7 * * * *")
    assert current_cron("on: push\n") is None
