"""The fake reviewer other tests use, and the Review value it hands out."""

from __future__ import annotations

from training_check.reviewers import Decision, FakeReviewer, Review, Reviewer, ReviewRequest, sanitize_reason

REQUEST = ReviewRequest(run_name="r", step=5)


def test_it_answers_in_order_and_records_the_requests() -> None:
    fake = FakeReviewer()
    fake.enqueue(Review(Decision.STOP, "diverged", available=True, model="m"))
    fake.enqueue(Decision.CONTINUE, "fine")
    other = ReviewRequest(run_name="s", step=6)
    assert fake.review(REQUEST) == Review(Decision.STOP, "diverged", available=True, model="m")
    assert fake.review(other) == Review(Decision.CONTINUE, "fine", available=True, model="fake")
    assert fake.history == [REQUEST, other]
    assert fake.pending == 0


def test_answers_can_be_given_up_front() -> None:
    fake = FakeReviewer(Decision.WAIT, Decision.STOP)
    assert [fake.review(REQUEST).decision for _ in range(2)] == [Decision.WAIT, Decision.STOP]


def test_an_empty_queue_is_an_unavailable_wait() -> None:
    review = FakeReviewer().review(REQUEST)
    assert review.decision is Decision.WAIT
    assert review.available is False
    assert review.reason.startswith("reviewer unavailable:")


def test_it_is_a_reviewer() -> None:
    reviewer: Reviewer = FakeReviewer(Decision.CONTINUE)
    assert reviewer.review(REQUEST).decision is Decision.CONTINUE


def test_a_review_reason_is_always_one_short_line() -> None:
    review = Review(Decision.WAIT, "a\nb\r\n\tc\x00d\u2028e\x85f  " + "g" * 400, available=True, model="m")
    assert review.reason.startswith("a b c d e f g")
    assert len(review.reason) == 300
    assert review.reason.endswith("…")
    assert sanitize_reason("short") == "short"


def test_decisions_are_their_names() -> None:
    assert [d.value for d in Decision] == ["STOP", "CONTINUE", "WAIT"]
    assert Decision("STOP") is Decision.STOP
