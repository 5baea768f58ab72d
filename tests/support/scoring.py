"""Scoring replayed verdicts against labelled curves (tests/data/curves/labels.json).

The rule: no `bad` at any check of a healthy run; a run whose loss became non-finite is
`bad` at the first check at or after that step; a run that diverged without NaN is `bad`
within 2 checks after its onset.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from training_check.analysis import Thresholds
from training_check.config import MetricKeys
from training_check.model import Verdict
from training_check.replay import replay
from training_check.sources import read_history

CURVES = Path(__file__).resolve().parent.parent / "data" / "curves"


@dataclass
class RunScore:
    """How the checks of one labelled run went."""

    file: str
    label: str
    onset: int | None
    nonfinite: bool
    checks: list[tuple[int, Verdict]]
    problem: str | None = None
    latency: int | None = None

    @property
    def unsure(self) -> int:
        return sum(v is Verdict.UNSURE for _, v in self.checks)


@dataclass
class Score:
    """Totals over a corpus."""

    runs: list[RunScore] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f"{r.file}: {r.problem}" for r in self.runs if r.problem]

    def summary(self) -> str:
        diverged = [r for r in self.runs if r.label == "diverged"]
        detected = [r for r in diverged if r.latency is not None]
        in_time = [r for r in diverged if r.latency is not None and not r.problem]
        healthy = [r for r in self.runs if r.label == "healthy"]
        latencies = [r.latency for r in detected if r.latency is not None]
        median = statistics.median(latencies) if latencies else float("nan")
        healthy_checks = sum(len(r.checks) for r in healthy)
        return (
            f"{len(self.runs)} runs: {len(healthy)} healthy, {len(diverged)} diverged, "
            f"{len(self.runs) - len(healthy) - len(diverged)} ambiguous\n"
            f"diverged detected in time: {len(in_time)}/{len(diverged)}; detected at all: "
            f"{len(detected)}/{len(diverged)}; median latency {median:.0f} steps\n"
            f"healthy runs: {sum(r.unsure for r in healthy)} unsure of {healthy_checks} checks "
            f"(in {sum(r.unsure > 0 for r in healthy)} runs); bad: "
            f"{sum(any(v is Verdict.BAD for _, v in r.checks) for r in healthy)} runs\n"
            f"problems: {len(self.problems)}"
        )


def score_run(file: Path, label: dict[str, object], every: int, thresholds: Thresholds) -> RunScore:
    """Replay one file and check its verdicts against its label."""
    history = read_history(file)
    checks = [
        (int(c.judgment.step or 0), c.judgment.verdict)
        for c in replay(str(file), history, every, MetricKeys(), thresholds)
    ]
    nonfinite = label.get("nonfinite_step")
    onset = label.get("onset")
    run = RunScore(file.name, str(label["label"]), onset if isinstance(onset, int) else None,
                   nonfinite is not None, checks)
    bad_steps = [s for s, v in checks if v is Verdict.BAD]
    if run.label == "healthy" and bad_steps:
        run.problem = f"healthy run judged bad at step {bad_steps[0]}"
    elif run.label == "diverged" and run.onset is not None:
        after = [(s, v) for s, v in checks if s >= run.onset]
        first_bad = next((s for s, v in after if v is Verdict.BAD), None)
        run.latency = None if first_bad is None else first_bad - run.onset
        allowed = after[:1] if isinstance(nonfinite, int) and nonfinite == run.onset else after[:2]
        if not any(v is Verdict.BAD for _, v in allowed):
            run.problem = (
                f"onset {run.onset}: not bad by step {allowed[-1][0] if allowed else '-'} "
                f"(first bad: {first_bad})"
            )
    return run


def score_corpus(folder: Path = CURVES, every: int = 100, thresholds: Thresholds | None = None) -> Score:
    """Score every labelled file of a folder."""
    labels = json.loads((folder / "labels.json").read_text())
    score = Score()
    for name in sorted(labels):
        score.runs.append(score_run(folder / name, labels[name], every, thresholds or Thresholds()))
    return score
