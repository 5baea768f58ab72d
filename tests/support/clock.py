"""A clock for tests: time moves only when the test (or a sleep) moves it."""

from __future__ import annotations


class FakeClock:
    """Starts at a fixed date; `sleep` and `advance` move it instantly."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.time = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        self.time += seconds
