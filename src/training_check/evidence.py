"""The evidence of a stop, as saved in the W&B run's notes: what was seen, who decided, what was done."""

from __future__ import annotations

from .model import Judgment, StopRecord
from .report.markdown import utc_time


def stop_evidence(run_name: str, url: str | None, record: StopRecord, judgment: Judgment | None) -> str:
    """Plain text for the W&B run's notes (people read it there, next to the run)."""
    who = {"rule": "the rules (automatic)", "reviewer": "the LLM reviewer"}.get(record.by, record.by)
    step = f" at step {judgment.step:,}" if judgment and judgment.step is not None else ""
    lines = [
        f"training-check stopped {run_name}{step} on {utc_time(record.requested_at, with_date=True)}.",
        f"Decided by {who}: {record.reason}.",
    ]
    if url:
        lines.append(f"Run: {url}")
    if judgment is not None:
        lines += [f"- {s.name}: {s.detail}" for s in judgment.signals[:8]]
    lines.append(f"What was done: {record.detail or record.outcome.value}")
    return "\n".join(lines)
