"""Changing the watch list: add or remove a run, and render entries as a ```yaml block.

Only the yaml block is rewritten; the text around it is kept byte for byte, and the block's
comments wherever the edit can be made in place. Parsing and validation are `watchlist`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from .errors import TrainingCheckError
from .model import StopKind
from .watchlist import (
    EXAMPLE,
    BadEntry,
    Block,
    WatchEntry,
    default_name,
    dump_flow,
    find_block,
    parse_watch_list,
    runs_list,
    show,
    validate_entry,
)


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
        default = default_name(data)
    except BadEntry:
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
            lines.append(_field(key, value if value is not None else []))
    text = "\n".join(lines) + "\n"
    if yaml.safe_load(text) != {k: ([] if v is None else v) for k, v in data.items()}:
        # Odd values (multi-line text kept from a broken entry): PyYAML's own layout is always right.
        text = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)
    return text


def _item_lines(item: object) -> str:
    if not isinstance(item, dict) or not item:
        return f"  - {dump_flow(item)}"
    fields = [_field(k, v) for k, v in item.items()]
    return "\n".join(["  - " + fields[0], *("    " + f for f in fields[1:])])


def _field(key: object, value: object) -> str:
    return f"{dump_flow(key)}: {dump_flow(value)}"


def add_entry(text: str, entry: Mapping[str, Any], source: str = "the watch list") -> str:
    """`text` with one more run in its yaml block, or with a new block at the end if it has none.

    The run is validated first (a TrainingCheckError says why it cannot be added). Everything
    outside the block is kept byte for byte, and the comments inside it where possible.
    """
    current = parse_watch_list(text, source)
    try:
        new = validate_entry(dict(entry), len(current.entries) + 1)
    except BadEntry as e:
        raise TrainingCheckError(f"This run cannot be watched: {e}.", tip=f"E.g.:\n{EXAMPLE}") from None
    if any(e.name == new.name for e in current.entries):
        raise TrainingCheckError(f"A run named `{new.name}` is already watched.", tip="Give it a `name:`.")
    nl = _newline(text)
    block, _ = find_block(text, source)
    if block is None:
        sep = "" if not text else nl if text.endswith("\n") else nl * 2
        return text + sep + render_watch_block([new]).replace("\n", nl)
    content = text[block.start : block.end]
    data = _editable(content, source)
    edited = _appended(content, entry, nl)
    return _rewrite(text, block, {**data, "runs": [*data["runs"], dict(entry)]}, edited)


def remove_entry(text: str, name: str, source: str = "the watch list") -> str:
    """`text` without the run called `name` (TrainingCheckError if there is none)."""
    watched = parse_watch_list(text, source).entries
    entry = next((e for e in watched if e.name == name), None)
    block, _ = find_block(text, source)
    if entry is None or block is None:
        names = ", ".join(f"`{e.name}`" for e in watched) or "none"
        raise TrainingCheckError(f"No run named `{show(name)}` is watched.", tip=f"Watched runs: {names}.")
    content = text[block.start : block.end]
    data = _editable(content, source)
    runs = [r for i, r in enumerate(data["runs"]) if i != entry.index - 1]
    edited = _without(content, entry.index - 1)
    return _rewrite(text, block, {**data, "runs": runs}, edited)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _editable(content: str, source: str) -> dict[Any, Any]:
    """The block's data with `runs:` as a list; only a readable list can be changed."""
    try:
        data = yaml.safe_load(content)
        runs = runs_list(data)
    except yaml.YAMLError:
        runs = None
    if runs is None:
        raise TrainingCheckError(
            f"The watch list in {source} cannot be changed: its yaml block is not a `runs:` list.",
            tip=f"Fix the block first; it should look like:\n{EXAMPLE}",
        )
    return {**(data or {}), "runs": runs}


def _rewrite(text: str, block: Block, expected: dict[Any, Any], candidate: str | None) -> str:
    """Put `candidate` (an edit of the block keeping its comments) in, if it reads back as
    `expected`; otherwise a freshly rendered block."""
    try:
        ok = candidate is not None and _editable(candidate, "") == expected
    except TrainingCheckError:
        ok = False
    if not ok or candidate is None:
        candidate = _render_yaml(expected).replace("\n", _newline(text))
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
