"""Metric sources: log files (JSON lines, CSV, text, W&B offline logs) and the W&B API."""

from training_check.sources.errors import SourceError
from training_check.sources.incremental import read_history
from training_check.sources.names import detect_names

__all__ = ["SourceError", "detect_names", "read_history"]
