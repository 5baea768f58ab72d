"""The one error type a reader raises for problems the user has to act on."""

from __future__ import annotations

from ..errors import TrainingCheckError


class SourceError(TrainingCheckError):
    """A metrics source that cannot be read: `message` names it and the problem.

    `tip` optionally says how to fix it; the CLI shows it on a line of its own.
    """
