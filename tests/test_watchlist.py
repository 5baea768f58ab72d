"""The watch list: parsing, validation of every field, defaults, and block-only rewrites."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from training_check.errors import TrainingCheckError
from training_check.model import StopKind, StopTarget
from training_check.watchlist import BaselineSpec, WatchEntry, WatchList, parse_watch_list
from training_check.watchlist_edit import add_entry, entry_to_dict, remove_entry, render_watch_block

HEAD = "# Training runs\n\nHuman text with `code` and a list:\n\n- one\n- two\n\n"
TAIL = "\nMore *human* text after the block.\n```python\nprint('not yaml')\n```\n"
SPEC_BLOCK = """```yaml
runs:
  - wandb: my-team/llm-pretrain/3kx9a2       # entity/project/run_id
    host: gpu1                                # a name from hosts:
    stop: {pid: 48121}
    log: /data/runs/a/metrics.jsonl
    baseline: {eval/loss: 2.31}
    pr: 17
    name: pretrain-a
```
"""


def body(block: str) -> str:
    return HEAD + block + TAIL


def runs_block(*items: str) -> str:
    return "```yaml\nruns:\n" + "".join(items) + "```\n"


def parse_one(item: str) -> tuple[WatchEntry | None, tuple[str, ...]]:
    watch = parse_watch_list(body(runs_block(item)), "issue #1")
    return (watch.entries[0] if watch.entries else None), watch.problems


# ---- parsing ----------------------------------------------------------------------------


def test_the_spec_example_parses_into_every_field() -> None:
    watch = parse_watch_list(body(SPEC_BLOCK), "issue #1")
    assert watch.problems == ()
    (entry,) = watch.entries
    assert entry == WatchEntry(
        name="pretrain-a",
        wandb="my-team/llm-pretrain/3kx9a2",
        host="gpu1",
        stop=StopTarget(StopKind.PID, "48121"),
        log="/data/runs/a/metrics.jsonl",
        baseline=BaselineSpec(values={"eval/loss": 2.31}),
        pr=17,
        index=1,
    )
    assert entry.wandb_url == "https://wandb.ai/my-team/llm-pretrain/runs/3kx9a2"


def test_six_entries_two_bad_give_four_entries_and_two_precise_problems() -> None:
    items = (
        "  - wandb: team/proj/run1\n",
        "  - wandb: team/proj/run2\n    stop: {slurm: 991234}\n",
        "  - log: /data/runs/a/good.jsonl\n    stop: {tmux: train-a}\n",
        "  - wandb: team/proj/run4\n    pr: -3\n",
        "  - log: /data/b.jsonl\n    stop: {screen: exp1}\n    baseline: {run: team/proj/base01}\n",
        "  - wandb: team/proj/run6\n    stop: {pid: abc}\n",
    )
    watch = parse_watch_list(body(runs_block(*items)), "issue #1")
    assert [e.name for e in watch.entries] == ["run1", "run2", "good", "b"]
    assert [e.index for e in watch.entries] == [1, 2, 3, 5]
    assert watch.problems == (
        "Watch list entry 4 was skipped: `pr: -3` — must be a pull request number (a positive whole number).",
        "Watch list entry 6 was skipped: `stop: {pid: abc}` — pid must be a positive whole number.",
    )


def test_names_default_to_name_then_run_id_then_log_stem() -> None:
    watch = parse_watch_list(
        runs_block(
            "  - wandb: t/p/abc123\n    name: explicit\n",
            "  - wandb: t/p/xyz789\n    log: /data/runs/a/ignored.jsonl\n",
            "  - log: /data/runs/a/good.jsonl\n",
        ),
        "x.md",
    )
    assert [e.name for e in watch.entries] == ["explicit", "xyz789", "good"]
    assert watch.entries[2].wandb_url is None


def test_a_later_duplicate_name_is_skipped_with_the_reason() -> None:
    watch = parse_watch_list(
        runs_block("  - log: /a/good.jsonl\n", "  - wandb: t/p/r\n", "  - log: /b/good.jsonl\n"), "x.md"
    )
    assert [e.log or e.wandb for e in watch.entries] == ["/a/good.jsonl", "t/p/r"]
    assert watch.problems == (
        "Watch list entry 3 was skipped: the name `good` is already used by entry 1; "
        "give one of them another `name:`.",
    )


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        (
            "  - wandb: t/p/r\n    stop: {tmux: 'a;rm -rf /'}\n",
            "`stop: {tmux: a;rm -rf /}` — tmux session name",
        ),
        ("  - wandb: t/p/r\n    stop: {pid: '1 2'}\n", "`stop: {pid: 1 2}` — pid must be a positive whole"),
        ("  - wandb: t/p/r\n    stop: {pid: true}\n", "pid must be a number or a plain name"),
        ("  - wandb: t/p/r\n    stop: {pid: 1, tmux: a}\n", "must be exactly one of pid, pgid"),
        ("  - wandb: t/p/r\n    stop: {kill: 1}\n", "`kill` is not a way to stop a run"),
        ("  - wandb: t/../r\n", "`wandb: t/../r` — must not contain `..`"),
        ("  - wandb: t/p/..\n", "must not contain `..`"),
        ("  - wandb: my team/p/r\n", "`wandb: my team/p/r` — may only use letters"),
        ("  - wandb: t/p\n", "must be entity/project/run_id"),
        ("  - wandb: 12\n", "must be text like"),
        (
            "  - log: /a/b.jsonl\n    host: -oProxyCommand=x\n",
            "`host: -oProxyCommand=x` — must be a host name",
        ),
        ('  - log: "/a/b\\nc.jsonl"\n', "must be the path of a metrics file, on one line"),
        ('  - log: "/a/b\\0.jsonl"\n', "must be the path of a metrics file"),
        ("  - log: '  '\n", "must be the path of a metrics file"),
        ("  - log: /a/b.jsonl\n    pr: true\n", "`pr: true` — must be a pull request number"),
        ("  - log: /a/b.jsonl\n    pr: '17'\n", "must be a pull request number"),
        (
            "  - log: /a/b.jsonl\n    baseline: {eval/loss: .nan}\n",
            "the value of `eval/loss` must be a finite",
        ),
        ("  - log: /a/b.jsonl\n    baseline: {eval/loss: high}\n", "must be a finite number"),
        ("  - log: /a/b.jsonl\n    baseline: {run: t/p/r, eval/loss: 1}\n", "`run:` cannot be mixed"),
        ("  - log: /a/b.jsonl\n    baseline: {run: 'x y'}\n", "run must be entity/project/run_id"),
        ("  - log: /a/b.jsonl\n    baseline: 2.31\n", "must be `{metric: number}`"),
        ("  - log: /a/b.jsonl\n    name: '../etc'\n", "`name: ../etc` — must be 1-64 letters"),
        ("  - log: /a/b.jsonl\n    colour: red\n", "unknown key `colour`"),
        ("  - host: gpu1\n", "it needs `wandb:` (entity/project/run_id) or `log:`"),
        (
            "  - log: '/data/my run.jsonl'\n",
            "the log file name `my run` cannot be used as the run's short name",
        ),
        ("  - just text\n", "it must be keys like `wandb:` and `stop:`"),
    ],
)
def test_a_bad_value_is_a_problem_never_an_entry(item: str, reason: str) -> None:
    entry, problems = parse_one(item)
    assert entry is None
    (problem,) = problems
    assert problem.startswith("Watch list entry 1 was skipped: ")
    assert reason in problem


def test_every_reason_of_an_entry_is_given_at_once() -> None:
    _, (problem,) = parse_one("  - wandb: a/../b\n    stop: {pid: x}\n    foo: 1\n")
    assert "unknown key `foo`" in problem
    assert "`wandb: a/../b`" in problem
    assert "`stop: {pid: x}`" in problem


def test_values_in_problems_cannot_break_the_markdown() -> None:
    _, (problem,) = parse_one("  - log: /a/b.jsonl\n    host: '`x`'\n")
    assert "`host: '?x?'`" in problem
    _, (long_problem,) = parse_one(f"  - log: /a/b.jsonl\n    host: {'h' * 500}\n")
    assert len(long_problem) < 200


def test_stop_handles_are_normalised_to_text() -> None:
    entry, _ = parse_one("  - log: /a/b.jsonl\n    stop: {slurm: '991234'}\n")
    assert entry is not None
    assert entry.stop == StopTarget(StopKind.SLURM, "991234")


def test_a_markdown_text_without_a_yaml_block_is_one_clear_problem() -> None:
    watch = parse_watch_list("Just words.\n\n```python\nx = 1\n```\n", "issue #4")
    assert watch.entries == ()
    (problem,) = watch.problems
    assert problem.startswith("No ```yaml block was found in issue #4: add a block that starts with ```yaml")


def test_a_yaml_syntax_error_is_one_clear_problem_with_the_line() -> None:
    watch = parse_watch_list(body(runs_block("  - wandb: t/p/r\n   stop: {pid: 1}\n")), "issue #4")
    assert watch.entries == ()
    (problem,) = watch.problems
    assert problem.startswith("The watch list in issue #4 is not valid YAML (")
    assert "at line 11" in problem  # the line in the whole issue body, where people look
    assert "check the indentation" in problem


def test_top_level_mistakes_are_problems() -> None:
    watch = parse_watch_list("```yaml\nrun:\n  - log: /a.jsonl\n```\n", "x.md")
    assert watch.problems == ("The watch list in x.md has an unknown key `run`; only `runs:` is read.",)
    watch = parse_watch_list("```yaml\nruns: /a.jsonl\n```\n", "x.md")
    assert "`runs:` in x.md must be a list of runs" in watch.problems[0]
    watch = parse_watch_list("```yaml\n- log: /a.jsonl\n```\n", "x.md")
    assert "must be a `runs:` list, not `[{log: /a.jsonl}]`" in watch.problems[0]


def test_an_empty_block_or_list_watches_nothing_quietly() -> None:
    assert parse_watch_list("```yaml\n```\n", "x.md") == parse_watch_list("```yaml\nruns: []\n```", "x.md")
    assert parse_watch_list("```yaml\nruns:\n```\n", "x.md").problems == ()


def test_bare_yaml_crlf_tildes_and_a_second_block() -> None:
    bare = "runs:\n  - log: /a/good.jsonl\n"
    assert [e.name for e in parse_watch_list(bare, "watch.yaml").entries] == ["good"]
    assert [e.name for e in parse_watch_list(bare, "watch.md").entries] == ["good"]
    crlf = "Text\r\n\r\n```YAML\r\nruns:\r\n  - log: /a/good.jsonl\r\n```\r\n"
    assert [e.name for e in parse_watch_list(crlf, "issue").entries] == ["good"]
    tildes = "~~~yml\nruns:\n  - log: /a/good.jsonl\n~~~\n"
    assert [e.name for e in parse_watch_list(tildes, "issue").entries] == ["good"]
    two = runs_block("  - log: /a/good.jsonl\n") + "\n" + runs_block("  - log: /a/other.jsonl\n")
    watch = parse_watch_list(two, "issue")
    assert [e.name for e in watch.entries] == ["good"]
    assert watch.problems == ("Only the first ```yaml block of issue is read; the one at line 6 is ignored.",)


# ---- rendering and editing --------------------------------------------------------------


def test_render_watch_block_reads_back_as_the_same_entries() -> None:
    entries = parse_watch_list(body(SPEC_BLOCK), "issue").entries
    block = render_watch_block(entries)
    assert block.startswith("```yaml\nruns:\n  - wandb: my-team/llm-pretrain/3kx9a2\n")
    assert "    stop: {pid: 48121}\n" in block
    assert parse_watch_list(block, "issue").entries == entries


def test_entry_to_dict_leaves_out_a_default_name() -> None:
    (entry,) = parse_watch_list(runs_block("  - wandb: t/p/r\n    stop: {tmux: a}\n"), "x").entries
    assert entry_to_dict(entry) == {"wandb": "t/p/r", "stop": {"tmux": "a"}}


def test_add_entry_keeps_the_human_text_and_the_comments() -> None:
    text = body(SPEC_BLOCK)
    new = add_entry(text, {"log": "/data/runs/b/metrics.jsonl", "host": "gpu2", "name": "b"})
    assert new.startswith(HEAD)
    assert new.endswith(TAIL)
    assert "# entity/project/run_id" in new
    assert [e.name for e in parse_watch_list(new, "issue").entries] == ["pretrain-a", "b"]


def test_add_entry_to_a_text_without_a_block_appends_one() -> None:
    text = "Please watch these.\n"
    new = add_entry(text, {"wandb": "t/p/r"})
    assert new == "Please watch these.\n\n```yaml\nruns:\n  - wandb: t/p/r\n```\n"
    assert add_entry("", {"log": "/a/x.jsonl"}) == "```yaml\nruns:\n  - log: /a/x.jsonl\n```\n"


def test_add_entry_keeps_crlf_line_endings() -> None:
    text = "Hi\r\n\r\n```yaml\r\nruns:\r\n  - log: /a/good.jsonl\r\n```\r\nBye\r\n"
    new = add_entry(text, {"log": "/a/more.jsonl"})
    assert (
        new
        == "Hi\r\n\r\n```yaml\r\nruns:\r\n  - log: /a/good.jsonl\r\n  - log: /a/more.jsonl\r\n```\r\nBye\r\n"
    )


def test_add_entry_refuses_a_bad_or_duplicate_run() -> None:
    text = body(SPEC_BLOCK)
    with pytest.raises(TrainingCheckError, match=r"cannot be watched: `stop: \{pid: 1 2\}`"):
        add_entry(text, {"wandb": "t/p/r", "stop": {"pid": "1 2"}})
    with pytest.raises(TrainingCheckError, match="`pretrain-a` is already watched"):
        add_entry(text, {"log": "/x/pretrain-a.jsonl"})
    with pytest.raises(TrainingCheckError, match="cannot be changed"):
        add_entry("```yaml\nruns: [\n```\n", {"log": "/x/a.jsonl"})


def test_add_then_remove_gives_back_the_text_byte_for_byte() -> None:
    text = body(SPEC_BLOCK)
    added = add_entry(text, {"wandb": "t/p/r2", "stop": {"slurm": 5}})
    assert remove_entry(added, "r2") == text


def test_remove_entry_keeps_the_other_entries_comments_and_text() -> None:
    block = runs_block(
        "  - log: /a/one.jsonl   # first\n",
        "  # about two\n",
        "  - log: /a/two.jsonl\n    pr: 3  # the PR\n",
        "  - log: /a/three.jsonl\n",
    )
    new = remove_entry(body(block), "two")
    expected = runs_block("  - log: /a/one.jsonl   # first\n", "  # about two\n", "  - log: /a/three.jsonl\n")
    assert new == body(expected)
    last_gone = remove_entry(body(block), "three")
    assert [e.name for e in parse_watch_list(last_gone, "x").entries] == ["one", "two"]
    assert last_gone.endswith("    pr: 3  # the PR\n```\n" + TAIL)


def test_remove_the_only_entry_and_a_flow_style_list() -> None:
    only = body(runs_block("  - log: /a/one.jsonl\n"))
    emptied = remove_entry(only, "one")
    assert emptied.startswith(HEAD) and emptied.endswith(TAIL)
    assert parse_watch_list(emptied, "x") == parse_watch_list(runs_block(), "x")
    flow = body("```yaml\nruns: [{log: /a/one.jsonl}, {log: /a/two.jsonl}]\n```\n")
    assert remove_entry(flow, "one") == body("```yaml\nruns:\n  - log: /a/two.jsonl\n```\n")


def test_remove_entry_of_an_unknown_name_lists_the_watched_ones() -> None:
    with pytest.raises(TrainingCheckError) as caught:
        remove_entry(body(SPEC_BLOCK), "nope")
    assert caught.value.message == "No run named `nope` is watched."
    assert caught.value.tip == "Watched runs: `pretrain-a`."


def test_edits_keep_invalid_entries_for_people_to_fix() -> None:
    text = body(runs_block("  - log: /a/one.jsonl\n", "  - wandb: bad path\n"))
    new = add_entry(text, {"log": "/a/two.jsonl"})
    assert "  - wandb: bad path\n" in new
    data = yaml.safe_load(parse_block(new))
    assert data == {"runs": [{"log": "/a/one.jsonl"}, {"wandb": "bad path"}, {"log": "/a/two.jsonl"}]}


def parse_block(text: str) -> str:
    return text.split("```yaml\n", 1)[1].split("```", 1)[0]


# ---- property: no text or YAML value ever crashes the parser -----------------------------

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
entry_dicts = st.dictionaries(
    st.sampled_from(["wandb", "host", "stop", "log", "baseline", "pr", "name", "other"]),
    yaml_values,
    max_size=5,
)


@given(st.text(max_size=300))
def test_any_text_gives_a_watch_list(text: str) -> None:
    assert isinstance(parse_watch_list(text, "issue"), WatchList)
    assert isinstance(parse_watch_list(text, "w.yaml"), WatchList)


@given(st.lists(entry_dicts, max_size=4))
def test_any_entries_become_valid_entries_or_problems(runs: list[dict[str, object]]) -> None:
    text = "```yaml\n" + yaml.safe_dump({"runs": runs}) + "```\n"
    watch = parse_watch_list(text, "issue")
    assert len(watch.entries) + len(watch.problems) == len(runs)
    for entry in watch.entries:
        assert entry.wandb is not None or entry.log is not None
        assert parse_watch_list(render_watch_block([entry]), "x").entries[0].name == entry.name
    for problem in watch.problems:
        assert "\n" not in problem
