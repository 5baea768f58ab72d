"""The review budget: at most N reviews per run in any 24 hours, so an unsure run stays cheap."""

from __future__ import annotations

from collections.abc import Sequence

from .interface import Decision, Review

DAY_SECONDS = 24 * 60 * 60.0


def prune(review_times: Sequence[float], now: float) -> tuple[float, ...]:
    """The review times (epoch seconds) still inside the 24 hours before `now`."""
    return tuple(t for t in review_times if now - t < DAY_SECONDS)


def within_budget(review_times: Sequence[float], now: float, per_day: int) -> bool:
    """Whether one more review fits: fewer than `per_day` reviews in the last 24 hours."""
    # Times in the future (a clock that went back) still count: the budget errs on cheap.
    return len(prune(review_times, now)) < per_day


def over_budget_review(per_day: int, model: str = "") -> Review:
    """The WAIT given instead of a review when the run's budget is used up."""
    return Review(
        Decision.WAIT,
        f"review budget used up ({per_day} per run per day)",
        available=False,
        model=model,
    )
