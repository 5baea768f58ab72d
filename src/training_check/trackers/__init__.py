"""Where the watch list, the dashboard and the verdict reports live (GitHub, local files)."""

from .interface import Tracker
from .local_file import LocalTracker

__all__ = ["LocalTracker", "Tracker"]
