"""The watch list: which runs to check, read from a ```yaml block in Markdown (or bare YAML).

Every field is validated here, once: what leaves this module is safe to put on a command
line or in a URL. An entry that cannot be understood never stops the others; it becomes a
problem naming the entry, the value and what is wrong with it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import yaml

from .errors import TrainingCheckError
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
class _Block:
    """Where the YAML sits in the text (`start:end`), and the line it starts on."""

    start: int
    end: int
    line: int


class _Bad(Exception):
    """One field of an entry is wrong (internal: collected into the entry's problem)."""


def parse_watch_list(text: str, source: str) -> WatchList:
    """Read the runs from `text`; `source` names it in problems (and `.yaml` means bare YAML)."""
    block, problems = _find_block(text, source)
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
            entry = _entry(raw, index)
        except _Bad as e:
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


def _find_block(text: str, source: str) -> tuple[_Block | None, list[str]]:
    """The first fenced yaml block; the whole text for a .yaml file or bare YAML with `runs:`."""
    found = _fenced_blocks(text)
    if found:
        ignored = f"Only the first ```yaml block of {source} is read; the one at line {{}} is ignored."
        return found[0], [ignored.format(b.line) for b in found[1:]]
    if source.lower().endswith((".yaml", ".yml")) or _is_bare_yaml(text):
        return _Block(0, len(text), 0), []
    return None, [
        f"No ```yaml block was found in {source}: add a block that starts with ```yaml and lists "
        "the runs under `runs:`, e.g. `- log: /data/runs/a/metrics.jsonl`."
    ]


def _fenced_blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        start = min(m.end() + 1, len(text))  # the content starts after the fence's newline
        fence = m.group(1)
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*\r?$", re.MULTILINE)
        end_m = close.search(text, start)
        end = end_m.start() if end_m else len(text)  # CommonMark: an unclosed fence runs to the end
        blocks.append(_Block(start, end, text.count("\n", 0, start)))
        pos = end_m.end() if end_m else len(text)
    return blocks


def _is_bare_yaml(text: str) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, dict) and "runs" in data


def _runs_of(data: object, source: str, problems: list[str]) -> list[object]:
    if data is None:
        return []  # an empty block: nothing to watch, which is fine
    if not isinstance(data, dict):
        problems.append(f"The watch list in {source} must be a `runs:` list, not `{_show(data)}`.")
        return []
    for key in data:
        if key != "runs":
            problems.append(
                f"The watch list in {source} has an unknown key `{_show(key)}`; only `runs:` is read."
            )
    runs = data.get("runs")
    if "runs" in data and not isinstance(runs, (list, type(None))):
        problems.append(
            f"`runs:` in {source} must be a list of runs (each starting with `- `), not `{_show(runs)}`."
        )
    return runs if isinstance(runs, list) else []


def _entry(raw: object, index: int) -> WatchEntry:
    """Validate one item of `runs:`; raises _Bad with every reason it is unusable."""
    if not isinstance(raw, dict):
        raise _Bad(f"it must be keys like `wandb:` and `stop:` under a `- `, not `{_show(raw)}`")
    reasons = [f"unknown key `{_show(k)}` (known: {', '.join(_KEYS)})" for k in raw if k not in _KEYS]
    fields: dict[str, Any] = {}
    for key, check in _CHECKS.items():
        if raw.get(key) is not None:
            try:
                fields[key] = check(raw[key])
            except _Bad as e:
                reasons.append(f"`{key}: {_show(raw[key])}` — {e}")
    if not reasons and "wandb" not in fields and "log" not in fields:
        reasons.append("it needs `wandb:` (entity/project/run_id) or `log:` (a metrics file)")
    if not reasons:
        try:
            fields["name"] = fields.get("name") or _default_name(fields)
        except _Bad as e:
            reasons.append(str(e))
    if reasons:
        raise _Bad("; ".join(reasons))
    get = fields.get
    return WatchEntry(
        fields["name"], get("wandb"), get("host"), get("stop"), get("log"), get("baseline"), get("pr"), index
    )


def _default_name(fields: Mapping[str, Any]) -> str:
    """The W&B run id, else the log file's stem — when that is usable as a name."""
    name: str
    if fields.get("wandb"):
        name, what = str(fields["wandb"]).rsplit("/", 1)[1], "W&B run id"
    else:
        name, what = PurePosixPath(str(fields["log"])).stem, "log file name"
    if not _NAME.fullmatch(name):
        raise _Bad(f"the {what} `{_show(name)}` cannot be used as the run's short name; add a `name:`")
    return name


def _wandb_path(value: object) -> str:
    if not isinstance(value, str):
        raise _Bad("must be text like `my-team/llm-pretrain/3kx9a2`")
    parts = value.split("/")
    if len(parts) != 3:
        raise _Bad("must be entity/project/run_id (three parts separated by `/`)")
    if not all(_PATH_PART.fullmatch(p) for p in parts):
        raise _Bad("may only use letters, digits, `_`, `-` and `.`")
    if ".." in value or "." in parts:
        raise _Bad("must not contain `..` or a `.` part")
    return value


def _name(value: object) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise _Bad("must be 1-64 letters, digits, `_`, `-` or `.`, starting with a letter or digit")
    return value


def _host(value: object) -> str:
    if not isinstance(value, str) or not _HOST.fullmatch(value):
        raise _Bad("must be a host name from `hosts:` (letters, digits, `_`, `-`, `.`)")
    return value


def _stop(value: object) -> StopTarget:
    kinds = ", ".join(k.value for k in StopKind)
    if not isinstance(value, dict) or len(value) != 1:
        raise _Bad(f"must be exactly one of {kinds}, e.g. `{{pid: 48121}}`")
    ((key, handle),) = value.items()
    kind = next((k for k in StopKind if k.value == key), None)
    if kind is None:
        raise _Bad(f"`{_show(key)}` is not a way to stop a run (use one of {kinds})")
    if isinstance(handle, bool) or not isinstance(handle, (int, str)):
        raise _Bad(f"{kind.value} must be a number or a plain name")
    try:
        return StopTarget(kind, str(handle))
    except ValueError as e:
        raise _Bad(str(e)) from None


def _log(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "\0\n\r"):
        raise _Bad("must be the path of a metrics file, on one line")
    return value


def _baseline(value: object) -> BaselineSpec:
    if not isinstance(value, dict) or not value:
        raise _Bad("must be `{metric: number}` like `{eval/loss: 2.31}`, or `{run: entity/project/run_id}`")
    if "run" in value:
        if len(value) != 1:
            raise _Bad("`run:` cannot be mixed with metric values")
        try:
            return BaselineSpec(run=_wandb_path(value["run"]))
        except _Bad as e:
            raise _Bad(f"run {e}") from None
    values: dict[str, float] = {}
    for metric, number in value.items():
        if not isinstance(metric, str) or not metric.strip() or len(metric) > 200 or "\n" in metric:
            raise _Bad(f"`{_show(metric)}` is not a metric name")
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise _Bad(f"the value of `{_show(metric)}` must be a finite number")
        values[metric] = float(number)
    return BaselineSpec(values=values)


def _pr(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise _Bad("must be a pull request number (a positive whole number)")
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


def _show(value: object, limit: int = 60) -> str:
    """A value as one short line for a problem: no backticks, no control characters."""
    text = "".join(c if c.isprintable() and c != "`" else "?" for c in _dump_flow(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def entry_to_dict(entry: WatchEntry) -> dict[str, Any]:
    """The entry as watch-list YAML data (`name:` only when it differs from the default)."""
    data: dict[str, Any] = {}
    if entry.wandb:
        data["wandb"] = entry.wandb
    if entry.host:
        data["host"] = entry.host
    if entry.stop:
        value = entry.stop.value
        numeric = entry.stop.kind not in (StopKind.TMUX, StopKind.SCREEN)
        data["stop"] = {entry.stop.kind.value: int(value) if numeric else value}
    if entry.log:
        data["log"] = entry.log
    if entry.baseline:
        base = entry.baseline
        data["baseline"] = {"run": base.run} if base.run else dict(base.values or {})
    if entry.pr is not None:
        data["pr"] = entry.pr
    try:
        default = _default_name(data)
    except _Bad:
        default = None
    if default != entry.name:
        data["name"] = entry.name
    return data


def render_watch_block(entries: Iterable[WatchEntry]) -> str:
    """A complete ```yaml block listing `entries`, in the style of the documentation."""
    return f"```yaml\n{_render_yaml({'runs': [entry_to_dict(e) for e in entries]})}```\n"


def _render_yaml(data: Mapping[str, Any]) -> str:
    """Watch-list YAML with one `key: value` line per field and flow style for small mappings."""
    lines: list[str] = []
    for key, value in data.items():
        if key == "runs" and isinstance(value, list) and value:
            lines.append("runs:")
            lines.extend(_item_lines(item) for item in value)
        else:
            lines.append(f"{_dump_flow(key)}: {_dump_flow(value if value is not None else [])}")
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != {k: ([] if v is None else v) for k, v in data.items()}:
        # Odd values (multi-line text kept from a broken entry): PyYAML's own layout is always right.
        text = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    return text


def _item_lines(item: object) -> str:
    if not isinstance(item, dict) or not item:
        return f"  - {_dump_flow(item)}"
    fields = [f"{_dump_flow(k)}: {_dump_flow(v)}" for k, v in item.items()]
    return "\n".join(["  - " + fields[0], *("    " + f for f in fields[1:])])


def _dump_flow(value: object) -> str:
    dumped: str = yaml.safe_dump({"v": value}, default_flow_style=True, width=10**9, allow_unicode=True)
    return dumped.strip()[len("{v: ") : -1]


def add_entry(text: str, entry: Mapping[str, Any], source: str = "the watch list") -> str:
    """`text` with one more run in its yaml block, or with a new block at the end if it has none.

    The run is validated first (a TrainingCheckError says why it cannot be added). Everything
    outside the block is kept byte for byte, and the comments inside it where possible.
    """
    current = parse_watch_list(text, source)
    try:
        new = _entry(dict(entry), len(current.entries) + 1)
    except _Bad as e:
        raise TrainingCheckError(f"This run cannot be watched: {e}.", tip=f"E.g.:\n{EXAMPLE}") from None
    if any(e.name == new.name for e in current.entries):
        raise TrainingCheckError(f"A run named `{new.name}` is already watched.", tip="Give it a `name:`.")
    nl = "\r\n" if "\r\n" in text else "\n"
    block, _ = _find_block(text, source)
    if block is None:
        sep = "" if not text else nl if text.endswith("\n") else nl * 2
        return text + sep + render_watch_block([new]).replace("\n", nl)
    data = _editable(text, block, source)
    edited = _appended(text[block.start : block.end], entry, nl)
    return _rewrite(text, block, {**data, "runs": [*data["runs"], dict(entry)]}, edited)


def remove_entry(text: str, name: str, source: str = "the watch list") -> str:
    """`text` without the run called `name` (TrainingCheckError if there is none)."""
    watched = parse_watch_list(text, source).entries
    entry = next((e for e in watched if e.name == name), None)
    block, _ = _find_block(text, source)
    if entry is None or block is None:
        names = ", ".join(f"`{e.name}`" for e in watched) or "none"
        raise TrainingCheckError(f"No run named `{_show(name)}` is watched.", tip=f"Watched runs: {names}.")
    data = _editable(text, block, source)
    runs = [r for i, r in enumerate(data["runs"]) if i != entry.index - 1]
    edited = _without(text[block.start : block.end], entry.index - 1)
    return _rewrite(text, block, {**data, "runs": runs}, edited)


def _editable(text: str, block: _Block, source: str) -> dict[Any, Any]:
    """The block's data with `runs:` as a list; only a readable list can be changed."""
    try:
        data = yaml.safe_load(text[block.start : block.end])
    except yaml.YAMLError:
        data = "broken"
    data = {"runs": []} if data is None else data
    if not isinstance(data, dict) or not isinstance(data.get("runs", []), (list, type(None))):
        raise TrainingCheckError(
            f"The watch list in {source} cannot be changed: its yaml block is not a `runs:` list.",
            tip=f"Fix the block first; it should look like:\n{EXAMPLE}",
        )
    return {**data, "runs": data.get("runs") or []}


def _rewrite(text: str, block: _Block, expected: dict[Any, Any], candidate: str | None) -> str:
    """Put `candidate` (an edit of the block keeping its comments) in, if it reads back as
    `expected`; otherwise a freshly rendered block."""
    try:
        ok = candidate is not None and _editable(candidate, _Block(0, len(candidate), 0), "") == expected
    except TrainingCheckError:
        ok = False
    if not ok or candidate is None:
        nl = "\r\n" if "\r\n" in text else "\n"
        candidate = _render_yaml(expected).replace("\n", nl)
    return text[: block.start] + candidate + text[block.end :]


def _runs_node(content: str) -> yaml.SequenceNode | None:
    """The block-style `runs:` sequence node (with positions), if the block has one."""
    try:
        root = yaml.compose(content)
    except yaml.YAMLError:
        return None
    if not isinstance(root, yaml.MappingNode):
        return None
    node = next((v for k, v in root.value if k.value == "runs"), None)
    ok = isinstance(node, yaml.SequenceNode) and node.value and not node.flow_style
    return node if ok and isinstance(node, yaml.SequenceNode) else None


def _appended(content: str, entry: Mapping[str, Any], nl: str) -> str | None:
    """`content` with `entry` as a new last item, indented like the first item."""
    node = _runs_node(content)
    if node is None:
        return None
    dash = content.rfind("-", 0, node.value[0].start_mark.index)
    indent = " " * (dash - (content.rfind("\n", 0, dash) + 1))
    lines = [indent + line[2:] for line in _item_lines(dict(entry)).split("\n")]
    body = content if not content or content.endswith("\n") else content + nl
    return body + nl.join(lines) + nl


def _without(content: str, index: int) -> str | None:
    """`content` without the lines of item `index`; comments above the next item stay with it."""
    node = _runs_node(content)
    if node is None or index >= len(node.value):
        return None
    item = node.value[index]
    start = content.rfind("\n", 0, item.start_mark.index) + 1
    last = item
    while isinstance(last, (yaml.MappingNode, yaml.SequenceNode)) and last.value and not last.flow_style:
        last = last.value[-1][1] if isinstance(last, yaml.MappingNode) else last.value[-1]
    end = last.end_mark.index
    if last.end_mark.column != 0:  # the item's last value ends inside a line: take the rest of it
        newline = content.find("\n", end)
        end = len(content) if newline < 0 else newline + 1
    return content[:start] + content[end:]
