"""The review budget: N reviews per run in any 24 hours."""

from __future__ import annotations

from training_check.reviewers import Decision, Review, over_budget_review, prune, within_budget

NOW = 1_795_000_000.0
HOUR = 3600.0


def test_reviews_older_than_a_day_no_longer_count() -> None:
    times = [NOW - 25 * HOUR, NOW - 24 * HOUR, NOW - 23 * HOUR, NOW - 1]
    assert prune(times, NOW) == (NOW - 23 * HOUR, NOW - 1)


def test_within_budget_counts_the_last_24_hours() -> None:
    five_today = [NOW - h * HOUR for h in range(5)]
    assert within_budget(five_today, NOW, per_day=6)
    assert not within_budget([*five_today, NOW - 0.5 * HOUR], NOW, per_day=6)
    assert within_budget([*five_today, NOW - 30 * HOUR], NOW, per_day=6)


def test_the_budget_frees_up_as_time_passes() -> None:
    six = [NOW - h * HOUR for h in range(6)]
    assert not within_budget(six, NOW, per_day=6)
    assert within_budget(six, NOW + 19.5 * HOUR, per_day=6)  # the oldest is now > 24 h old


def test_a_zero_budget_allows_no_review() -> None:
    assert not within_budget([], NOW, per_day=0)
    assert within_budget([], NOW, per_day=1)


def test_future_times_count() -> None:
    # After the clock went back, a review "in the future" still used the budget.
    assert not within_budget([NOW + HOUR], NOW, per_day=1)


def test_the_over_budget_review_is_an_unavailable_wait() -> None:
    review = over_budget_review(6)
    assert review == Review(
        Decision.WAIT, "review budget used up (6 per run per day)", available=False, model=""
    )
    assert over_budget_review(2, model="gpt-5.5").model == "gpt-5.5"
