"""training-check: watch ML training runs, judge their health, stop the ones that diverged."""

__version__ = "0.1.0"
