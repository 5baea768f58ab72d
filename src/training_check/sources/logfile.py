"""Read a local metrics file (JSON lines, CSV or a plain-text training log) into a History.

A format is a function from a path to a `History`, listed in `READERS`; `EXTENSIONS`
maps file extensions to formats. Adding a format (say `.wandb`) is one entry in each.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Callable, Iterator
from io import BufferedReader
from pathlib import Path

from training_check.model import History
from training_check.sources.errors import SourceError
from training_check.sources.rows import STEP_KEYS, HistoryBuilder, pick_step_key
from training_check.sources.values import parse_number, parse_step, snippet

MAX_LINE = 1 << 20  # 1 MiB: a longer line is skipped in pieces, never held whole
INCOMPLETE = "incomplete last line (still being written?)"
# W&B's bookkeeping keys start with "_"; these two say when rows arrived (for stalls).
KEPT_PRIVATE_KEYS = frozenset({"_timestamp", "_runtime"})
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


# --- plain-text training logs ------------------------------------------------------

_NAME = r"[A-Za-z_](?:[\w./-]*\w)?"
_NUMBER = r"[-+]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf(?:inity)?)"
_UNIT = r"(?:ms|s|%)?"  # nanoGPT prints "time 20.12ms, mfu 30.00%"
# name=value, name: value, 'name': value (HF Trainer dicts); the value maybe in tensor(...)
_STRONG = re.compile(rf"(?<![\w./-])(['\"]?)({_NAME})\1(\s*[=:]\s*)(?:tensor\(\s*)?([^\s,;|(){{}}\[\]]+)")
# name value: only trusted on a line that is otherwise clearly a metric line
_WEAK = re.compile(rf"(?<![\w./-])({_NAME})\s+({_NUMBER}){_UNIT}(?![\w.])", re.IGNORECASE)
_NUMBER_TOKEN = re.compile(rf"({_NUMBER}){_UNIT}", re.IGNORECASE)
# Names that say "metric". Without a step, `=` or such a name, "name: 12" is far more
# often a banner ("Trainable params: 124") than a metric.
_METRIC_WORD = re.compile(
    r"loss|learning_rate|grad|norm|accuracy|perplexity|(?:^|[^a-z])(?:lr|acc|ppl)(?:[^a-z]|$)",
    re.IGNORECASE,
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TEXT_STEP_KEYS = ("step", "global_step", "iter", "iteration")
_EVAL_PREFIXES = ("eval_", "eval/", "val_", "val/", "test_", "test/")


class TextParser(LineParser):
    """Training logs: `step 120 loss=2.31`, `iter 40: loss 3.1`, HF Trainer dicts, ..."""

    tip = "expected log lines such as 'step 120 loss=2.31 lr=3e-4' or {'loss': 2.31}"

    def parse(self, text: str, out: HistoryBuilder) -> None:
        # A tqdm bar redraws itself after \r: only its last state was ever shown.
        line = _ANSI.sub("", text.rsplit("\r", 1)[-1])
        strong, trusted = _strong_pairs(line, out)
        weak = [(match[1], match[2]) for match in _WEAK.finditer(line)]
        pairs = strong + weak
        if not (trusted or ("|" in line and weak) or any(_says_metric(n) for n, _ in pairs)):
            out.ignored += 1  # banners, warnings, tracebacks, progress bars
            return
        values = dict(pairs)
        if "train_runtime" in values:
            # HF Trainer's end-of-run summary: averages over the run, not a step's metrics
            # (its `train_loss` would otherwise pass for the training loss).
            out.ignored += 1
            return
        step = _pop_step(values)
        metrics = {name: float(raw) for name, raw in values.items()}
        if step is None and metrics and _is_eval_only(metrics):
            step = 0 if out.last_step is None else out.last_step  # the step it followed
        out.add(step, metrics)


def _strong_pairs(line: str, out: HistoryBuilder) -> tuple[list[tuple[str, str]], bool]:
    """The `name=number` pairs, and whether any is a deliberate metric.

    `loss=2.3` and `'loss': 2.3` are; `Num examples = 1000` (HF's banner) is not.
    """
    pairs, trusted = [], False
    for match in _STRONG.finditer(line):
        quote, name, sep, token = match.groups()
        if token.endswith(":"):
            continue  # "train.py:143: UserWarning": a source location, not a metric
        number = _NUMBER_TOKEN.fullmatch(token.rstrip("."))  # "loss: 2.3." ends a sentence
        if number is not None:
            pairs.append((name, number[1]))
            trusted = trusted or sep == "=" or bool(quote)
        elif token[0] not in "'\"" and _METRIC_WORD.search(name):
            out.note("not a number", f"{name}={snippet(token, 30)}")
    return pairs, trusted


def _says_metric(name: str) -> bool:
    return name.lower() in _TEXT_STEP_KEYS or _METRIC_WORD.search(name) is not None


def _pop_step(values: dict[str, str]) -> int | None:
    """Remove the step field from `values` and return it (`step 500/10000` gives 500)."""
    for key in _TEXT_STEP_KEYS:
        name = next((name for name in values if name.lower() == key), None)
        if name is not None:
            raw = values.pop(name)
            step = parse_step(raw)
            if step is None:
                raise BadLine("step is not a whole number", f"{name} {raw}")
            return step
    return None


def _is_eval_only(metrics: dict[str, float]) -> bool:
    """Whether a step-less line holds eval results ({'eval_loss': .., 'epoch': ..})."""
    return all(key.lower().startswith(_EVAL_PREFIXES) for key in metrics if key.lower() != "epoch")


# --- reading files -----------------------------------------------------------------

Reader = Callable[[Path], History]


def _line_reader(parser: Callable[[str], LineParser]) -> Reader:
    def read(path: Path) -> History:
        return read_lines(path, parser(str(path)))

    return read


READERS: dict[str, Reader] = {
    "jsonl": _line_reader(JsonlParser),
    "csv": _line_reader(CsvParser),
    "text": _line_reader(TextParser),
}
EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".log": "text",
    ".txt": "text",
    ".out": "text",
}
_STEPISH_COLUMNS = frozenset({*STEP_KEYS, "epoch"})


def read_history(path: str | Path, fmt: str | None = None) -> History:
    """Read the metrics file at `path`; `fmt` ("jsonl", "csv", "text") overrides detection.

    Raises SourceError, naming the file and the problem, when nothing usable can be
    read; rows it cannot use are skipped and counted in the History instead.
    """
    path = Path(path)
    fmt = fmt or format_of(path)
    reader = READERS.get(fmt)
    if reader is None:
        raise SourceError(f"unknown format {fmt!r}", f"use one of: {', '.join(READERS)}")
    return reader(path)


def format_of(path: Path) -> str:
    """The format the extension names, else the one the first non-empty line suggests."""
    known = EXTENSIONS.get(path.suffix.lower())
    if known is not None:
        return known
    with _open(path) as file:
        head = file.read(64 * 1024).decode("utf-8", "replace")
    first = next((line.strip() for line in head.splitlines() if line.strip()), "")
    first = first.lstrip("\ufeff")
    if re.match(r'\{\s*"', first):
        return "jsonl"
    cells = {cell.strip().strip('"').lower() for cell in first.split(",")}
    return "csv" if "," in first and cells & _STEPISH_COLUMNS else "text"


def read_lines(path: Path, parser: LineParser) -> History:
    """Feed the lines of `path` to `parser`, counting what it cannot use."""
    out = HistoryBuilder()
    lines = blank = 0
    with _open(path) as file:
        if file.peek(2)[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            tip = f"convert it first, e.g. iconv -f UTF-16 -t UTF-8 {path}"
            raise SourceError(f"{path} is UTF-16 text; only UTF-8 can be read", tip)
        try:
            for lines, (raw, complete) in enumerate(_raw_lines(file), start=1):
                out.where = f"line {lines}"
                blank += _read_line(raw, complete, parser, out)
        except OSError as error:
            raise SourceError(f"{path}: read failed ({error.strerror or error})") from error
    if lines == blank:
        raise SourceError(f"{path} is empty", "the run may not have logged anything yet")
    if out.rows_read == 0:
        raise parser.no_rows(lines, out.first_problem)
    return out.build()


def _read_line(raw: bytes | None, complete: bool, parser: LineParser, out: HistoryBuilder) -> bool:
    """Handle one raw line; True when it was blank."""
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
        # A last line without its newline is most likely still being written.
        out.skip(bad.reason if complete else INCOMPLETE, None if not complete else bad.example)
    return False


def _raw_lines(file: BufferedReader) -> Iterator[tuple[bytes | None, bool]]:
    """(line, ends with a newline) pairs; (None, True) for a line longer than MAX_LINE."""
    while line := file.readline(MAX_LINE + 1):
        if line.endswith(b"\n") or len(line) <= MAX_LINE:
            yield line, line.endswith(b"\n")
            continue
        while line and not line.endswith(b"\n"):  # drain the rest, 1 MiB at a time
            line = file.readline(MAX_LINE)
        yield None, True


def _open(path: Path) -> BufferedReader:
    try:
        return path.open("rb")
    except FileNotFoundError as error:
        raise SourceError(f"{path}: no such file", "check the path") from error
    except IsADirectoryError as error:
        tip = "give the metrics file inside it (e.g. metrics.csv or history.jsonl)"
        raise SourceError(f"{path} is a directory", tip) from error
    except PermissionError as error:
        raise SourceError(f"{path}: permission denied", "check the file's permissions") from error
    except OSError as error:
        raise SourceError(f"{path}: cannot open ({error.strerror or error})") from error
