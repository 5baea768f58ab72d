"""The contract between the line reader and a format's line parser.

`incremental.LineStream` splits a file into raw lines of at most `MAX_LINE` bytes and hands
each to `read_line`, which decodes it and feeds it, when not blank, to a `LineParser`; the
parser adds its row to a `HistoryBuilder` or raises `BadLine` to have the line counted as
skipped.
"""

from __future__ import annotations

from training_check.sources.errors import SourceError
from training_check.sources.rows import HistoryBuilder

FORMAT_TIP = "formats: JSON lines, CSV with a header row, or text lines like 'step 10 loss=2.3'"
MAX_LINE = 1 << 20  # 1 MiB: a longer line is skipped in pieces, never held whole
INCOMPLETE = "incomplete last line (still being written?)"


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


def read_line(raw: bytes | None, complete: bool, parser: LineParser, out: HistoryBuilder) -> bool:
    """Hand one raw line to `parser` (None: one over `MAX_LINE`, dropped); True when it was blank.

    `complete` says the line ended with a newline: a last line without one is most likely
    still being written, so its problems are counted as `INCOMPLETE`.
    """
    if raw is None:
        out.skip(f"longer than {MAX_LINE >> 20} MiB")
        return False
    try:
        text = raw.decode("utf-8").lstrip("\ufeff").strip()
    except UnicodeDecodeError:
        out.skip("not valid UTF-8 text" if complete else INCOMPLETE)
        return False
    if not text:
        return True
    try:
        parser.parse(text, out)
    except BadLine as bad:
        out.skip(bad.reason if complete else INCOMPLETE, None if not complete else bad.example)
    return False
