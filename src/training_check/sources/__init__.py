"""Readers that turn local metric files (JSON lines, CSV, text logs) into a `History`."""

from training_check.sources.errors import SourceError
from training_check.sources.logfile import read_history
from training_check.sources.names import detect_names

__all__ = ["SourceError", "detect_names", "read_history"]
