"""Value types that cross the boundaries between the parts of training-check.

Everything here is immutable: a reader builds a `History`, the analysis turns it into a
`Judgment`, and the reporters only read it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

StepArray = npt.NDArray[np.int64]
ValueArray = npt.NDArray[np.float64]


class Verdict(enum.Enum):
    """The health of a run, as the judgment table decides it."""

    FINE = "fine"
    UNSURE = "unsure"
    BAD = "bad"


class Severity(enum.IntEnum):
    """How much a signal weighs in the judgment (ordered: a higher one wins)."""

    NOTE = 0  # worth telling, changes nothing (a spike that recovered)
    UNSURE = 1  # needs a second opinion
    BAD = 2  # enough on its own to call the run bad


@dataclass(frozen=True)
class Series:
    """One metric over steps: `steps` strictly increasing, `values` may hold NaN/Inf."""

    steps: StepArray
    values: ValueArray

    def __post_init__(self) -> None:
        if self.steps.shape != self.values.shape:
            raise ValueError("steps and values must have the same length")

    def __len__(self) -> int:
        return int(self.steps.size)

    def up_to(self, step: int) -> Series:
        """The part of the series at or before `step` (views, no copy)."""
        end = int(np.searchsorted(self.steps, step, side="right"))
        return Series(self.steps[:end], self.values[:end])

    @staticmethod
    def empty() -> Series:
        """A series with no points."""
        return Series(np.empty(0, np.int64), np.empty(0, np.float64))


@dataclass(frozen=True)
class MetricNames:
    """Which history key plays which role; None when the run has no such metric."""

    loss: str | None = None
    eval: str | None = None
    lr: str | None = None
    grad_norm: str | None = None


@dataclass(frozen=True)
class History:
    """The metrics of one run as read so far, with what the reader had to skip."""

    series: Mapping[str, Series]
    rows_read: int = 0
    rows_skipped: int = 0
    skip_reasons: tuple[str, ...] = ()

    @property
    def last_step(self) -> int | None:
        """The highest step of any metric, or None for an empty history."""
        ends = [int(s.steps[-1]) for s in self.series.values() if len(s)]
        return max(ends) if ends else None

    def up_to(self, step: int) -> History:
        """The history as it was when the run had reached `step`."""
        return History(
            {name: s.up_to(step) for name, s in self.series.items()},
            self.rows_read,
            self.rows_skipped,
            self.skip_reasons,
        )

    def get(self, name: str | None) -> Series:
        """The named series, or an empty one when the name is None or absent."""
        if name is None or name not in self.series:
            return Series.empty()
        return self.series[name]


@dataclass(frozen=True)
class Baseline:
    """What the eval metric is compared with: a fixed value or a baseline run's series."""

    value: float | None = None
    series: Series | None = None
    label: str = "baseline"

    def at(self, step: int) -> float | None:
        """The baseline's value at `step` (the baseline run's nearest earlier eval)."""
        if self.series is None:
            return self.value
        part = self.series.up_to(step)
        finite = np.isfinite(part.values)
        if not finite.any():
            return None
        return float(part.values[finite][-1])


@dataclass(frozen=True)
class Signal:
    """One observation about a run, with a one-line human reason and its numbers."""

    name: str
    severity: Severity
    detail: str
    numbers: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Judgment:
    """The verdict on a run at a step, and the signals behind it."""

    step: int | None
    verdict: Verdict
    signals: tuple[Signal, ...]

    @property
    def reasons(self) -> tuple[Signal, ...]:
        """The signals that decided the verdict (the most severe ones)."""
        if not self.signals:
            return ()
        top = max(s.severity for s in self.signals)
        return tuple(s for s in self.signals if s.severity == top)


class StopKind(enum.Enum):
    """How a run is stopped: which handle the watch list gave for it."""

    PID = "pid"
    PGID = "pgid"
    SLURM = "slurm"
    TMUX = "tmux"
    SCREEN = "screen"


# Session names reach remote shells: only these characters are ever accepted.
SESSION_NAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}")  # no leading "-": never an option


@dataclass(frozen=True)
class StopTarget:
    """A validated handle on a training process: numbers are numbers, names are plain."""

    kind: StopKind
    value: str

    def __post_init__(self) -> None:
        if self.kind in (StopKind.TMUX, StopKind.SCREEN):
            if not SESSION_NAME.fullmatch(self.value):
                raise ValueError(
                    f"{self.kind.value} session name must match [A-Za-z0-9_.-]+ and not start with '-'"
                )
        elif not (self.value.isascii() and self.value.isdigit() and 0 < int(self.value) < 2**31):
            raise ValueError(f"{self.kind.value} must be a positive whole number")

    def __str__(self) -> str:
        return f"{self.kind.value} {self.value}"


class StopOutcome(enum.Enum):
    """Where a stop stands."""

    IN_PROGRESS = "in progress"  # signals sent, the process had not exited yet
    STOPPED = "stopped"  # the process exited after our signals
    ALREADY_GONE = "already gone"  # nothing to signal: it had exited before
    REFUSED = "refused"  # the PID now belongs to another process: not signalled
    DRY_RUN = "would stop"  # actions.stop is false
    FAILED = "failed"  # could not signal or could not verify


@dataclass(frozen=True)
class StopStep:
    """One action of a stop (a signal sent, an exit seen), with its time (epoch seconds)."""

    action: str
    at: float


@dataclass(frozen=True)
class StopRecord:
    """The evidence of a stop; saved before every signal so a crash never signals twice."""

    target: StopTarget
    requested_at: float
    by: str  # "rule", "reviewer" or "@login"
    reason: str
    steps: tuple[StopStep, ...] = ()
    outcome: StopOutcome = StopOutcome.IN_PROGRESS
    detail: str = ""

    def sent(self, action: str) -> bool:
        """Whether `action` (e.g. "SIGINT") was already recorded."""
        return any(s.action == action for s in self.steps)
