"""Time, injected: the real clock, a compressed one for demos, so schedules are testable."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the project gets the time from and how it waits."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class ScaledClock:
    """A clock running `scale` times faster than real time (`--time-scale`).

    It starts at the real time and then advances `scale` seconds per real second, so a
    10-minute check interval passes in 10 real seconds at scale 60.
    """

    def __init__(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._origin_real = time.monotonic()
        self._origin = time.time()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._origin_real) * self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.scale)
