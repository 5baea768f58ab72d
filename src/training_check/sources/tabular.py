"""Line parsers for the tabular formats: JSON lines and CSV with a header row."""

from __future__ import annotations

import csv
import json

from training_check.sources.errors import SourceError
from training_check.sources.lines import BadLine, LineParser
from training_check.sources.rows import STEP_KEYS, HistoryBuilder, pick_step_key
from training_check.sources.values import parse_number, parse_step, snippet

# W&B's bookkeeping keys start with "_"; these two say when rows arrived (for stalls).
KEPT_PRIVATE_KEYS = frozenset({"_timestamp", "_runtime"})


class JsonlParser(LineParser):
    """One JSON object per line, as W&B history exports and most loggers write."""

    tip = 'expected one JSON object per line, e.g. {"_step": 10, "loss": 2.3}'

    def parse(self, text: str, out: HistoryBuilder) -> None:
        try:
            row = json.loads(text)  # takes bare NaN, Infinity and -Infinity too
        except (ValueError, RecursionError) as error:  # deep nesting -> RecursionError
            raise BadLine("not valid JSON", snippet(text)) from error
        if not isinstance(row, dict):
            raise BadLine("not a JSON object", snippet(text))
        key = pick_step_key(row)
        step = None if key is None else parse_step(row[key])
        if key is not None and step is None:
            raise BadLine("step is not a whole number", f"{key}={json.dumps(row[key])[:30]}")
        metrics = {}
        for name, value in row.items():
            if name == key or (name.startswith("_") and name not in KEPT_PRIVATE_KEYS):
                continue
            number = parse_number(value)  # W&B histograms, media, text: not metrics
            if number is not None:
                metrics[name] = number
        out.add(step, metrics)


class CsvParser(LineParser):
    """A header row, then one row per logging call; empty cells are missing values."""

    tip = "expected a CSV file whose first row names the columns, e.g. step,loss,lr"

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.header: list[str] | None = None
        self.step_col: int | None = None
        self.data_rows = 0

    def parse(self, text: str, out: HistoryBuilder) -> None:
        try:
            cells = next(csv.reader([text]))
        except csv.Error as error:
            raise BadLine("not valid CSV", snippet(text)) from error
        if self.header is None:
            self._set_header(cells)
            return
        self.data_rows += 1
        if len(cells) != len(self.header):
            raise BadLine("wrong number of cells", f"{len(cells)}, header has {len(self.header)}")
        step = None
        if self.step_col is not None and cells[self.step_col].strip():
            step = parse_step(cells[self.step_col])
            if step is None:
                raise BadLine("step is not a whole number", snippet(cells[self.step_col]))
        metrics = {}
        for col, (name, cell) in enumerate(zip(self.header, cells, strict=True)):
            if col == self.step_col or not name or not cell.strip():
                continue  # Lightning's metrics.csv leaves most cells of a row empty
            number = parse_number(cell)
            if number is None:
                out.note("not a number", f"{name}={snippet(cell, 30)}")
            else:
                metrics[name] = number
        out.add(step, metrics)

    def _set_header(self, cells: list[str]) -> None:
        self.header = [cell.strip() for cell in cells]
        if all(parse_number(cell) is not None for cell in self.header):
            raise SourceError(f"{self.name}: the first row is numbers, not a header", self.tip)
        self.step_col = next((self.header.index(key) for key in STEP_KEYS if key in self.header), None)

    def no_rows(self, lines: int, first_problem: str | None) -> SourceError:
        if self.header is not None and self.data_rows == 0:
            tip = "the run may not have logged a row yet; try again later"
            return SourceError(f"{self.name} has a header but no data rows", tip)
        return super().no_rows(lines, first_problem)
