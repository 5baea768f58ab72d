"""The reviewer interface: what a reviewer is asked about an "unsure" run and what it answers.

A reviewer is a second opinion (an LLM) on a run the judgment table could not call. It can
only ever answer one of three decisions; anything it could not answer becomes WAIT.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Protocol

APIS = ("responses", "chat")
REASON_MAX_CHARS = 300

# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators: a reason is
# shown on one line in comments and logs, so none of these may survive.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class Decision(enum.Enum):
    """The only answers a reviewer can give."""

    STOP = "STOP"
    CONTINUE = "CONTINUE"
    WAIT = "WAIT"


def sanitize_reason(text: str, limit: int = REASON_MAX_CHARS) -> str:
    """`text` as one line: control characters become spaces, runs of spaces shrink, cut to `limit`."""
    one_line = " ".join(_CONTROL.sub(" ", text).split())
    if len(one_line) <= limit:
        return one_line
    return one_line[: limit - 1].rstrip() + "…"


@dataclass(frozen=True, kw_only=True)
class ReviewRequest:
    """What the reviewer is shown about one run (keywords only). Every string is untrusted data."""

    run_name: str
    run_url: str | None = None
    step: int
    total_steps: int | None = None
    last_losses: tuple[float, ...] = ()  # up to 10, oldest first, may hold NaN/Inf
    last_evals: tuple[tuple[int, float], ...] = ()  # up to 3 (step, value), oldest first
    baseline: str | None = None  # short text, e.g. "baseline run: 0.412 at step 3000"
    unsure_reasons: tuple[str, ...] = ()  # the signal details that made the run "unsure"
    loss_name: str = "loss"
    eval_name: str = "eval"


@dataclass(frozen=True)
class Review:
    """A reviewer's answer. `available` is False when WAIT is a fallback, not an answer."""

    decision: Decision
    reason: str
    available: bool
    model: str

    def __post_init__(self) -> None:
        # Sanitised here so that no Review, whoever builds it, carries a multi-line reason.
        object.__setattr__(self, "reason", sanitize_reason(self.reason))


@dataclass(frozen=True)
class ReviewerSettings:
    """The `reviewer:` section of the config."""

    model: str = "gpt-5.5"
    api: str = "responses"  # "responses" (OpenAI) or "chat" (OpenAI-compatible servers)
    reasoning_effort: str | None = "high"
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    may_stop: bool = True
    max_reviews_per_run_per_day: int = 6
    timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        # The config parser gives precise errors; these are the invariants the code relies on.
        if self.api not in APIS:
            raise ValueError(f"reviewer.api must be one of {', '.join(APIS)}")
        if not self.timeout_seconds > 0:
            raise ValueError("reviewer.timeout_seconds must be positive")
        if self.max_reviews_per_run_per_day < 0:
            raise ValueError("reviewer.max_reviews_per_run_per_day must not be negative")


class Reviewer(Protocol):
    """Gives a second opinion on an "unsure" run. Never raises: failures answer WAIT."""

    def review(self, request: ReviewRequest) -> Review:
        """The decision on `request`, with a one-line reason."""
        ...
