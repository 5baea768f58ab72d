"""The contract between the file reader and a format's line parser.

`logfile.read_lines` feeds each decoded, non-blank line to a `LineParser`, which adds its
row to a `HistoryBuilder` or raises `BadLine` to have the line counted as skipped.
"""

from __future__ import annotations

from training_check.sources.errors import SourceError
from training_check.sources.rows import HistoryBuilder

FORMAT_TIP = "formats: JSON lines, CSV with a header row, or text lines like 'step 10 loss=2.3'"


class BadLine(Exception):
    """Raised by a line parser for a line it drops; the reader counts it as skipped."""

    def __init__(self, reason: str, example: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.example = example


class LineParser:
    """Turns the decoded, non-blank lines of one file into rows on a builder."""

    tip = FORMAT_TIP

    def __init__(self, name: str) -> None:
        self.name = name

    def parse(self, text: str, out: HistoryBuilder) -> None:
        """Add the line's row to `out`, or raise BadLine to have it skipped."""
        raise NotImplementedError

    def no_rows(self, lines: int, first_problem: str | None) -> SourceError:
        """The error for a non-empty file that gave no metric row at all."""
        why = f"first problem, {first_problem}" if first_problem else "no line held metrics"
        return SourceError(f"{self.name}: no metric rows found in {lines} lines ({why})", self.tip)
