"""The project's base error: a message for people and, where we know one, how to fix it."""

from __future__ import annotations


class TrainingCheckError(Exception):
    """An expected failure: shown as one ERROR line and an optional TIP line, no traceback."""

    def __init__(self, message: str, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip

    def __str__(self) -> str:
        return self.message
