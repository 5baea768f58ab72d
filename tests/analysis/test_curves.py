"""The judgment on real training curves (tests/data/curves), replayed as the CLI does.

The rule from the product: no `bad` at any check of a healthy run; a run whose loss became
non-finite is `bad` at the first check at or after that step; a run that diverged without
NaN is `bad` within 2 checks after its onset. Healthy runs are also replayed at other
check cadences: whenever a check lands, a healthy run must never be called bad.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from support.scoring import CURVES, Score, score_corpus
from training_check.model import Verdict
from training_check.sources import read_history


@pytest.fixture(scope="module")
def every_100() -> Score:
    return score_corpus(every=100)


def test_the_corpus_has_every_kind_of_run(every_100: Score) -> None:
    labels = [r.label for r in every_100.runs]
    assert labels.count("healthy") >= 25
    assert sum(r.label == "diverged" and r.nonfinite for r in every_100.runs) >= 10
    assert sum(r.label == "diverged" and not r.nonfinite for r in every_100.runs) >= 10


@pytest.mark.parametrize("every", [37, 50, 100, 200])
def test_no_healthy_run_is_ever_bad(every: int) -> None:
    score = score_corpus(every=every)
    bad = [r.problem for r in score.runs if r.label == "healthy" and r.problem]
    assert bad == [], score.summary()


def test_nonfinite_runs_are_bad_at_the_first_check_after(every_100: Score) -> None:
    labels = json.loads((CURVES / "labels.json").read_text())
    for run in every_100.runs:
        step = labels[run.file]["nonfinite_step"]
        if step is None:
            continue
        first_check = next(v for s, v in run.checks if s >= step)
        assert first_check is Verdict.BAD, run.file


def test_divergence_without_nan_is_caught_within_two_checks(every_100: Score) -> None:
    diverged = [r for r in every_100.runs if r.label == "diverged" and not r.nonfinite]
    assert [r.problem for r in diverged if r.problem] == []
    for run in diverged:
        after = [v for s, v in run.checks if s >= (run.onset or 0)]
        assert Verdict.BAD in after[:2], run.file


def test_unsure_verdicts_on_healthy_runs_stay_rare(every_100: Score) -> None:
    healthy = [r for r in every_100.runs if r.label == "healthy"]
    checks = sum(len(r.checks) for r in healthy)
    assert sum(r.unsure for r in healthy) <= 0.05 * checks


def test_replay_cli_prints_one_json_line_per_check() -> None:
    files = [str(CURVES / "linreg_sgd_warmup_too_high.jsonl"), str(CURVES / "teacher_adamw_cosine.jsonl")]
    done = subprocess.run(
        [sys.executable, "-m", "training_check.cli", "replay", *files, "--every", "100", "--format", "json"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert all(set(line) == {"file", "step", "verdict", "signals"} for line in lines)
    by_file = {f: [line for line in lines if line["file"] == f] for f in files}
    diverged, healthy = by_file[files[0]], by_file[files[1]]
    last_step = read_history(files[0]).last_step
    assert last_step is not None and last_step % 100 != 0
    expected = [*range(100, last_step + 1, 100), last_step]  # the last step is checked too
    assert [line["step"] for line in diverged] == expected
    assert {line["verdict"] for line in healthy} <= {"fine", "unsure"}
    assert diverged[-1]["verdict"] == "bad"
    names = {s["name"] for s in diverged[-1]["signals"]}
    assert "non-finite" in names
    assert all(isinstance(s["detail"], str) and s["detail"] for s in diverged[-1]["signals"])
