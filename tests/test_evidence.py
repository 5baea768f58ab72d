"""The text saved as evidence in a stopped W&B run's notes."""

from __future__ import annotations

from training_check.evidence import stop_evidence
from training_check.model import (
    Judgment,
    Severity,
    Signal,
    StopKind,
    StopOutcome,
    StopRecord,
    StopStep,
    StopTarget,
    Verdict,
)


def test_evidence_names_the_step_the_signals_who_decided_and_what_was_done() -> None:
    record = StopRecord(
        StopTarget(StopKind.PID, "48121"), 1_795_000_000.0, "@alice", "loss is NaN",
        (StopStep("SIGINT", 1_795_000_001.0), StopStep("exited", 1_795_000_042.0)),
        StopOutcome.STOPPED, "SIGINT to pid 48121 at 08:26:41 UTC; the process exited after 41 s",
    )  # fmt: skip
    judgment = Judgment(
        12_400, Verdict.BAD, (Signal("non-finite", Severity.BAD, "`train/loss` is NaN from step 12,380"),)
    )
    text = stop_evidence("pretrain-a", "https://wandb.ai/t/p/runs/abc", record, judgment)
    assert text.splitlines()[0] == "training-check stopped pretrain-a at step 12,400 on 2026-11-18 11:06 UTC."
    assert "Decided by @alice: loss is NaN." in text
    assert "- non-finite: `train/loss` is NaN from step 12,380" in text
    assert "https://wandb.ai/t/p/runs/abc" in text
    assert text.endswith("What was done: SIGINT to pid 48121 at 08:26:41 UTC; the process exited after 41 s")
