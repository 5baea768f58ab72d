"""A reviewer for tests: canned answers in order, and a record of what it was asked."""

from __future__ import annotations

from collections import deque

from .interface import Decision, Review, ReviewRequest

FAKE_MODEL = "fake"


class FakeReviewer:
    """Answers from a queue filled with `enqueue`; WAIT (unavailable) once the queue is empty."""

    def __init__(self, *answers: Review | Decision) -> None:
        self.history: list[ReviewRequest] = []
        self._queue: deque[Review] = deque()
        for answer in answers:
            self.enqueue(answer)

    def enqueue(self, answer: Review | Decision, reason: str = "canned answer") -> None:
        """Queue the next answer: a whole `Review`, or a decision with `reason`."""
        if isinstance(answer, Decision):
            answer = Review(answer, reason, available=True, model=FAKE_MODEL)
        self._queue.append(answer)

    @property
    def pending(self) -> int:
        """How many canned answers are left."""
        return len(self._queue)

    def review(self, request: ReviewRequest) -> Review:
        """Record `request` and give the next canned answer."""
        self.history.append(request)
        if not self._queue:
            return Review(
                Decision.WAIT,
                "reviewer unavailable: the fake reviewer has no answer queued",
                available=False,
                model=FAKE_MODEL,
            )
        return self._queue.popleft()
