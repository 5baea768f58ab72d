"""Judging a run from its metrics: pure numpy, no I/O, deterministic.

Imports nothing of the project but `model`, so it can be tested and benchmarked alone.
"""

from .judgment import judge
from .thresholds import LrSchedule, Thresholds

__all__ = ["LrSchedule", "Thresholds", "judge"]
