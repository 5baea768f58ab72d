"""The watch list: which runs to check, read from a ```yaml block in Markdown (or bare YAML).

Every field is validated here, once: what leaves this module is safe to put on a command
line or in a URL. An entry that cannot be understood never stops the others; it becomes a
problem naming the entry, the value and what is wrong with it.

Adding and removing runs (rewriting the block) is in `watchlist_edit`, which builds on the
public helpers here: `find_block`, `validate_entry`, `runs_list`, `default_name`, `show`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from .model import StopKind, StopTarget

_KEYS = ("wandb", "host", "stop", "log", "baseline", "pr", "name")
# Names reach shells, URLs and commands: plain characters only, never a leading `-` or `.`.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_PATH_PART = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*ya?ml[ \t]*\r?$", re.MULTILINE | re.IGNORECASE)
EXAMPLE = "```yaml\nruns:\n  - log: /data/runs/a/metrics.jsonl\n```"


@dataclass(frozen=True)
class BaselineSpec:
    """What a run's eval metric is compared with: fixed values, or another W&B run."""

    values: Mapping[str, float] | None = None
    run: str | None = None


@dataclass(frozen=True)
class WatchEntry:
    """One validated run of the watch list; `index` is its 1-based position under `runs:`."""

    name: str
    wandb: str | None
    host: str | None
    stop: StopTarget | None
    log: str | None
    baseline: BaselineSpec | None
    pr: int | None
    index: int

    @property
    def wandb_url(self) -> str | None:
        """The run's W&B page, or None for a run given only by its log file."""
        if self.wandb is None:
            return None
        entity, project, run_id = self.wandb.split("/")
        return f"https://wandb.ai/{entity}/{project}/runs/{run_id}"


@dataclass(frozen=True)
class WatchList:
    """The runs to check, and one sentence per thing in the text that could not be used."""

    entries: tuple[WatchEntry, ...]
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Block:
    """Where the YAML sits in the text (`start:end`), and the line it starts on."""

    start: int
    end: int
    line: int


class BadEntry(Exception):
    """An entry cannot be used; the message says why (collected into the entry's problem)."""


def parse_watch_list(text: str, source: str) -> WatchList:
    """Read the runs from `text`; `source` names it in problems (and `.yaml` means bare YAML)."""
    block, problems = find_block(text, source)
    if block is None:
        return WatchList((), tuple(problems))
    try:
        data = yaml.safe_load(text[block.start : block.end])
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {block.line + mark.line + 1}" if mark is not None else ""
        what = getattr(e, "problem", None) or "syntax error"
        problems.append(
            f"The watch list in {source} is not valid YAML ({what}{where}): fix the block — "
            "check the indentation and that each run starts with `- ` under `runs:`."
        )
        return WatchList((), tuple(problems))
    runs = _runs_of(data, source, problems)
    entries: list[WatchEntry] = []
    for index, raw in enumerate(runs, start=1):
        try:
            entry = validate_entry(raw, index)
        except BadEntry as e:
            problems.append(f"Watch list entry {index} was skipped: {e}.")
            continue
        clash = next((o for o in entries if o.name == entry.name), None)
        if clash is not None:
            problems.append(
                f"Watch list entry {index} was skipped: the name `{entry.name}` is already used by "
                f"entry {clash.index}; give one of them another `name:`."
            )
            continue
        entries.append(entry)
    return WatchList(tuple(entries), tuple(problems))


def find_block(text: str, source: str) -> tuple[Block | None, list[str]]:
    """The first fenced yaml block; the whole text for a .yaml file or bare YAML with `runs:`."""
    found = _fenced_blocks(text)
    if found:
        ignored = f"Only the first ```yaml block of {source} is read; the one at line {{}} is ignored."
        return found[0], [ignored.format(b.line) for b in found[1:]]
    if source.lower().endswith((".yaml", ".yml")) or _is_bare_yaml(text):
        return Block(0, len(text), 0), []
    return None, [
        f"No ```yaml block was found in {source}: add a block that starts with ```yaml and lists "
        "the runs under `runs:`, e.g. `- log: /data/runs/a/metrics.jsonl`."
    ]


def _fenced_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        start = min(m.end() + 1, len(text))  # the content starts after the fence's newline
        fence = m.group(1)
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*\r?$", re.MULTILINE)
        end_m = close.search(text, start)
        end = end_m.start() if end_m else len(text)  # CommonMark: an unclosed fence runs to the end
        blocks.append(Block(start, end, text.count("\n", 0, start)))
        pos = end_m.end() if end_m else len(text)
    return blocks


def _is_bare_yaml(text: str) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "runs" in data


def runs_list(data: object) -> list[object] | None:
    """The items under `runs:` of a loaded block ([] for an empty block or an empty `runs:`),
    or None when the block is not a `runs:` mapping with a list under it."""
    if data is None:
        return []  # an empty block: nothing to watch, which is fine
    if not isinstance(data, dict):
        return None
    runs = data.get("runs")
    if runs is None:
        return []
    return runs if isinstance(runs, list) else None


def _runs_of(data: object, source: str, problems: list[str]) -> list[object]:
    runs = runs_list(data)
    if isinstance(data, dict):
        for key in data:
            if key != "runs":
                problems.append(
                    f"The watch list in {source} has an unknown key `{show(key)}`; only `runs:` is read."
                )
        if runs is None:
            problems.append(
                f"`runs:` in {source} must be a list of runs (each starting with `- `), "
                f"not `{show(data['runs'])}`."
            )
    elif runs is None:
        problems.append(f"The watch list in {source} must be a `runs:` list, not `{show(data)}`.")
    return runs or []


def validate_entry(raw: object, index: int) -> WatchEntry:
    """Validate one item of `runs:`; raises BadEntry with every reason it is unusable."""
    if not isinstance(raw, dict):
        raise BadEntry(f"it must be keys like `wandb:` and `stop:` under a `- `, not `{show(raw)}`")
    reasons = [f"unknown key `{show(k)}` (known: {', '.join(_KEYS)})" for k in raw if k not in _KEYS]
    fields: dict[str, Any] = {}
    for key, check in _CHECKS.items():
        if raw.get(key) is not None:
            try:
                fields[key] = check(raw[key])
            except BadEntry as e:
                reasons.append(f"`{key}: {show(raw[key])}` — {e}")
    if not reasons and "wandb" not in fields and "log" not in fields:
        reasons.append("it needs `wandb:` (entity/project/run_id) or `log:` (a metrics file)")
    if not reasons:
        try:
            fields["name"] = fields.get("name") or default_name(fields)
        except BadEntry as e:
            reasons.append(str(e))
    if reasons:
        raise BadEntry("; ".join(reasons))
    get = fields.get
    return WatchEntry(
        fields["name"], get("wandb"), get("host"), get("stop"), get("log"), get("baseline"), get("pr"), index
    )


def default_name(fields: Mapping[str, Any]) -> str:
    """The W&B run id, else the log file's stem — when that is usable as a name."""
    name: str
    if fields.get("wandb"):
        name, what = str(fields["wandb"]).rsplit("/", 1)[1], "W&B run id"
    else:
        name, what = PurePosixPath(str(fields["log"])).stem, "log file name"
    if not _NAME.fullmatch(name):
        raise BadEntry(f"the {what} `{show(name)}` cannot be used as the run's short name; add a `name:`")
    return name


def _wandb_path(value: object) -> str:
    if not isinstance(value, str):
        raise BadEntry("must be text like `my-team/llm-pretrain/3kx9a2`")
    parts = value.split("/")
    if len(parts) != 3:
        raise BadEntry("must be entity/project/run_id (three parts separated by `/`)")
    if not all(_PATH_PART.fullmatch(p) for p in parts):
        raise BadEntry("may only use letters, digits, `_`, `-` and `.`")
    if ".." in value or "." in parts:
        raise BadEntry("must not contain `..` or a `.` part")
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise BadEntry("must be 1-64 letters, digits, `_`, `-` or `.`, starting with a letter or digit")
    return value


def _host(value: object) -> str:
    if not isinstance(value, str) or not _HOST.fullmatch(value):
        raise BadEntry("must be a host name from `hosts:` (letters, digits, `_`, `-`, `.`)")
    return value


def _stop(value: object) -> StopTarget:
    kinds = ", ".join(k.value for k in StopKind)
    if not isinstance(value, dict) or len(value) != 1:
        raise BadEntry(f"must be exactly one of {kinds}, e.g. `{{pid: 48121}}`")
    ((key, handle),) = value.items()
    kind = next((k for k in StopKind if k.value == key), None)
    if kind is None:
        raise BadEntry(f"`{show(key)}` is not a way to stop a run (use one of {kinds})")
    if isinstance(handle, bool) or not isinstance(handle, (int, str)):
        raise BadEntry(f"{kind.value} must be a number or a plain name")
    try:
        return StopTarget(kind, str(handle))
    except ValueError as e:
        raise BadEntry(str(e)) from None


def _log(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\0\n\r"):
        raise BadEntry("must be the path of a metrics file, on one line")
    return value


def _baseline(value: object) -> BaselineSpec:
    if not isinstance(value, dict) or not value:
        raise BadEntry(
            "must be `{metric: number}` like `{eval/loss: 2.31}`, or `{run: entity/project/run_id}`"
        )
    if "run" in value:
        if len(value) != 1:
            raise BadEntry("`run:` cannot be mixed with metric values")
        try:
            return BaselineSpec(run=_wandb_path(value["run"]))
        except BadEntry as e:
            raise BadEntry(f"run {e}") from None
    values: dict[str, float] = {}
    for metric, number in value.items():
        if not isinstance(metric, str) or not metric.strip() or len(metric) > 200 or "\n" in metric:
            raise BadEntry(f"`{show(metric)}` is not a metric name")
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise BadEntry(f"the value of `{show(metric)}` must be a finite number")
        values[metric] = float(number)
    return BaselineSpec(values=values)


def _pr(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise BadEntry("must be a pull request number (a positive whole number)")
    return value


_CHECKS = {
    "wandb": _wandb_path,
    "host": _host,
    "stop": _stop,
    "log": _log,
    "baseline": _baseline,
    "pr": _pr,
    "name": _name,
}


def show(value: object, limit: int = 60) -> str:
    """A value as one short line for a problem: no backticks, no control characters."""
    text = "".join(c if c.isprintable() and c != "`" else "?" for c in dump_flow(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def dump_flow(value: object) -> str:
    """`value` as YAML flow style on one line, e.g. `{pid: 48121}`."""
    dumped: str = yaml.safe_dump({"v": value}, default_flow_style=True, width=10**9, allow_unicode=True)
    return dumped.strip()[len("{v: ") : -1]
