"""Comment commands: parsing, validation with the watch list's rules, run references, permissions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training_check.command_parsing import (
    format_duration,
    parse_command,
    parse_duration,
    resolve_run,
    resolve_target,
)
from training_check.commands import (
    ALL,
    MAX_REASON,
    PERMISSION_ORDER,
    CheckCommand,
    CommandError,
    CommandName,
    HelpCommand,
    ResumeCommand,
    RunRef,
    SnoozeCommand,
    StatusCommand,
    StopCommand,
    UnwatchCommand,
    WatchCommand,
    allowed,
    effective_permission,
    help_text,
    snooze_until,
    usage,
)
from training_check.model import StopKind, StopTarget
from training_check.watchlist import WatchEntry, parse_watch_list
from training_check.watchlist_edit import add_entry

WATCH_USAGE = "Usage: `/watch <entity/project/run_id> [host=… pid=… pgid=… slurm=… tmux=… screen=… log=… pr=…]`"
SNOOZE_USAGE = "Usage: `/snooze <run|all> <30m|2h|1d>`"
OPTIONS = "`host=`, `pid=`, `pgid=`, `slurm=`, `tmux=`, `screen=`, `log=`, `pr=`"


def ref(text: str) -> RunRef:
    return RunRef(text)


def error_of(line: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        parse_command(line)
    return caught.value


# ---- valid commands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("/stop pretrain-a", StopCommand(ref("pretrain-a"))),
        ("/stop pre loss is NaN since step 1200", StopCommand(ref("pre"), "loss is NaN since step 1200")),
        ("/stop t/p/3kx9a2   why\tnot  ", StopCommand(ref("t/p/3kx9a2"), "why not")),
        ("/snooze pretrain-a 30m", SnoozeCommand(ref("pretrain-a"), 1800)),
        ("/snooze all 2h", SnoozeCommand(ALL, 7200)),
        ("/snooze 3kx 1d", SnoozeCommand(ref("3kx"), 86400)),
        ("/snooze all 90s", SnoozeCommand(ALL, 90)),
        ("/snooze all 1h30m", SnoozeCommand(ALL, 5400)),
        ("/snooze all 30d", SnoozeCommand(ALL, 30 * 86400)),
        ("/resume pretrain-a", ResumeCommand(ref("pretrain-a"))),
        ("/resume all", ResumeCommand(ALL)),
        ("/watch my-team/llm/3kx9a2", WatchCommand("my-team/llm/3kx9a2")),
        (
            "/watch my-team/llm/3kx9a2 host=gpu1 pid=48121 log=/data/runs/a/metrics.jsonl pr=17",
            WatchCommand(
                "my-team/llm/3kx9a2", "gpu1", StopTarget(StopKind.PID, "48121"), "/data/runs/a/metrics.jsonl", 17
            ),
        ),
        ("/watch t/p/r tmux=train-a", WatchCommand("t/p/r", stop=StopTarget(StopKind.TMUX, "train-a"))),
        ("/watch t/p/r screen=exp1", WatchCommand("t/p/r", stop=StopTarget(StopKind.SCREEN, "exp1"))),
        ("/watch t/p/r slurm=991234", WatchCommand("t/p/r", stop=StopTarget(StopKind.SLURM, "991234"))),
        ("/watch t/p/r pr=7 pgid=4410", WatchCommand("t/p/r", stop=StopTarget(StopKind.PGID, "4410"), pr=7)),
        ("/unwatch pretrain-a", UnwatchCommand(ref("pretrain-a"))),
        ("/check", CheckCommand(ALL)),
        ("/check all", CheckCommand(ALL)),
        ("/check pre", CheckCommand(ref("pre"))),
        ("/status", StatusCommand()),
        ("/help", HelpCommand()),
    ],
)
def test_each_command_parses_into_its_typed_value(line: str, command: object) -> None:
    assert parse_command(line) == command


def test_every_command_knows_its_name() -> None:
    assert StopCommand(ref("a")).name is CommandName.STOP
    assert SnoozeCommand(ALL, 60).name is CommandName.SNOOZE
    assert WatchCommand("t/p/r").name is CommandName.WATCH
    assert {n.value for n in CommandName} == {"stop", "snooze", "resume", "watch", "unwatch", "check", "status", "help"}


def test_only_the_first_line_counts() -> None:
    assert parse_command("/stop a why\nsecond line /snooze all 2h") == StopCommand(ref("a"), "why")
    assert parse_command("/status\r\n/stop a") == StatusCommand()
    assert parse_command("/status\r/stop a") == StatusCommand()  # a lone CR ends a line too
    assert parse_command("Please do this:\n/stop a") is None
    assert parse_command("\n/stop a") is None  # the first line is empty


def test_whitespace_and_cr_around_the_command_are_tolerated() -> None:
    assert parse_command("  \t/snooze all 2h \r\n") == SnoozeCommand(ALL, 7200)
    assert parse_command("/snooze\tall\u00a02h") == SnoozeCommand(ALL, 7200)
    assert parse_command("/help\r") == HelpCommand()


def test_a_stop_reason_is_one_plain_short_line() -> None:
    command = parse_command("/stop a  bad\x07\x1b[31m  run\u2028x")
    assert command == StopCommand(ref("a"), "bad [31m run x")
    long = parse_command("/stop a " + "word " * 100)
    assert isinstance(long, StopCommand)
    assert len(long.reason) == MAX_REASON
    assert long.reason.endswith("…")


# ---- not commands -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "Looks fine to me",
        "/",
        "/ stop a",  # the word must follow the slash
        "/data/runs/a/metrics.jsonl is where it logs",
        "/usr/bin/python train.py",
        "`/stop a`",
        "> /stop a",  # a quoted command is not run again
        "/lgtm",
        "/approve",
        "/cc @someone",
        "/watchdog fired",  # two edits from `/watch`: an ordinary word
        "/stat",
        "/unwatched a",
        "/spot a",
        "/x",
        "/stop/a",
    ],
)
def test_a_line_that_is_no_command_gives_none(line: str) -> None:
    assert parse_command(line) is None


@pytest.mark.parametrize(
    ("line", "suggested"),
    [
        ("/stpo a", "stop"),
        ("/Stop a", "stop"),  # command words are case-sensitive, but a capital gets a hint
        ("/STOP a", "stop"),
        ("/stop, a", "stop"),
        ("/snoze all 2h", "snooze"),
        ("/Help", "help"),
        ("/chekc", "check"),
        ("/stops a", "stop"),
        ("/tsop a", "stop"),
        ("/resme all", "resume"),
        ("/unwatch. a", "unwatch"),
    ],
)
def test_a_near_miss_is_an_error_with_did_you_mean(line: str, suggested: str) -> None:
    error = error_of(line)
    word = line.split(maxsplit=1)[0]
    assert error.message == f"`{word}` is not a command; did you mean `/{suggested}`?"
    assert error.tip == usage(CommandName(suggested))


# ---- bad arguments ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message", "tip"),
    [
        (
            "/snooze a 5 minutes",
            "`/snooze` takes a run (or `all`) and a duration like `2h`, not `a 5 minutes`.",
            SNOOZE_USAGE,
        ),
        ("/snooze all", "`/snooze` takes a run (or `all`) and a duration like `2h`, not `all`.", SNOOZE_USAGE),
        ("/snooze", "`/snooze` needs a run (or `all`) and a duration like `2h`.", SNOOZE_USAGE),
        ("/snooze all 0m", "`0m` is too short: a snooze lasts at least `1m`.", SNOOZE_USAGE),
        ("/snooze all 59s", "`59s` is too short: a snooze lasts at least `1m`.", SNOOZE_USAGE),
        ("/snooze all 400d", "`400d` is too long: a snooze lasts at most `30d`.", SNOOZE_USAGE),
        ("/snooze all 30d1s", "`30d1s` is too long: a snooze lasts at most `30d`.", SNOOZE_USAGE),
        (
            "/snooze all 5",
            "`5` is not a duration: use a whole number and a unit, like `30m`, `2h` or `1d`.",
            SNOOZE_USAGE,
        ),
        ("/stop", "`/stop` needs a run and maybe a reason.", "Usage: `/stop <run> [reason…]`"),
        (
            "/stop all now",
            "`/stop` works on one run at a time, not `all`; name the run.",
            "Usage: `/stop <run> [reason…]`",
        ),
        ("/unwatch all", "`/unwatch` works on one run at a time, not `all`; name the run.", "Usage: `/unwatch <run>`"),
        ("/unwatch", "`/unwatch` needs one run.", "Usage: `/unwatch <run>`"),
        ("/unwatch a b", "`/unwatch` takes one run, not `a b`.", "Usage: `/unwatch <run>`"),
        ("/resume", "`/resume` needs one run (or `all`).", "Usage: `/resume <run|all>`"),
        ("/resume a 2h", "`/resume` takes one run (or `all`), not `a 2h`.", "Usage: `/resume <run|all>`"),
        ("/check a b", "`/check` takes at most one run (or `all`), not `a b`.", "Usage: `/check [run|all]`"),
        ("/status now", "`/status` takes no arguments, not `now`.", "Usage: `/status`"),
        ("/help stop", "`/help` takes no arguments, not `stop`.", "Usage: `/help`"),
        ("/stop \x1b", "`?` is not a run name.", "Usage: `/stop <run> [reason…]`"),
        (
            "/watch",
            "`/watch` needs a W&B run path entity/project/run_id, then optional `key=value` options.",
            WATCH_USAGE,
        ),
        (
            "/watch a/b/c pid=abc",
            "This run cannot be watched: `stop: {pid: abc}` — pid must be a positive whole number.",
            WATCH_USAGE,
        ),
        ("/watch a/b/c foo=1", f"`foo=1` is not a `/watch` option; use {OPTIONS} (no spaces).", WATCH_USAGE),
        ("/watch a/b/c gpu1", f"`gpu1` is not a `/watch` option; use {OPTIONS} (no spaces).", WATCH_USAGE),
        ("/watch a/b/c PID=1", f"`PID=1` is not a `/watch` option; use {OPTIONS} (no spaces).", WATCH_USAGE),
        ("/watch a/b/c name=x", f"`name=x` is not a `/watch` option; use {OPTIONS} (no spaces).", WATCH_USAGE),
        (
            "/watch a/b/c tmux=$(rm -rf /)",
            f"`-rf` is not a `/watch` option; use {OPTIONS} (no spaces).",
            WATCH_USAGE,
        ),
        ("/watch a/b/c pid=1 pid=2", "`pid=` is given twice.", WATCH_USAGE),
        (
            "/watch a/b/c pid=1 tmux=x",
            "This run cannot be watched: `stop: {pid: '1', tmux: x}` — must be exactly one of pid, pgid, slurm, "
            "tmux, screen, e.g. `{pid: 48121}`.",
            WATCH_USAGE,
        ),
        (
            "/watch a/b",
            "This run cannot be watched: `wandb: a/b` — must be entity/project/run_id (three parts separated by `/`).",
            WATCH_USAGE,
        ),
        (
            "/watch a/b/c pr=abc",
            "This run cannot be watched: `pr: abc` — must be a pull request number (a positive whole number).",
            WATCH_USAGE,
        ),
        (
            "/watch a/b/c host=-oProxyCommand=x",
            "This run cannot be watched: `host: -oProxyCommand=x` — must be a host name from `hosts:` "
            "(letters, digits, `_`, `-`, `.`).",
            WATCH_USAGE,
        ),
    ],
)
def test_bad_arguments_are_a_clear_error_with_the_usage_line(line: str, message: str, tip: str) -> None:
    error = error_of(line)
    assert (error.message, error.tip) == (message, tip)


def test_every_reason_a_watch_cannot_be_added_is_given_at_once() -> None:
    message = error_of("/watch a/../c pid=x pr=0").message
    assert "`wandb: a/../c`" in message
    assert "`stop: {pid: x}`" in message
    assert "`pr: 0`" in message


def test_typed_text_quoted_in_an_error_cannot_break_the_markdown() -> None:
    message = error_of("/unwatch a`b @x`y c").message
    assert message == "`/unwatch` takes one run, not `a?b @x?y c`."
    long = error_of("/unwatch a " + "b" * 500).message
    assert len(long) < 100


# ---- hostile arguments ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tmux", "screen"])
@pytest.mark.parametrize(
    "name", ["a;rm", "a|b", "a&b", "$(id)", "`id`", "-x", "a'b", 'a"b', "a>b", "a\\b", "a*b", "~x", "ａ", "a\x00"]
)
def test_session_names_with_shell_characters_never_pass(kind: str, name: str) -> None:
    with pytest.raises(CommandError, match="cannot be watched"):
        parse_command(f"/watch t/p/r {kind}={name}")


@pytest.mark.parametrize("kind", ["pid", "pgid", "slurm"])
@pytest.mark.parametrize("value", ["", "-1", "0", "1e3", "0x10", "+5", "٣", "2147483648", "9" * 5000, "1;kill"])
def test_process_handles_that_are_not_plain_numbers_never_pass(kind: str, value: str) -> None:
    with pytest.raises(CommandError, match="cannot be watched"):
        parse_command(f"/watch t/p/r {kind}={value}")


def test_a_pid_with_a_space_is_two_words_and_never_passes() -> None:
    with pytest.raises(CommandError, match="is not a `/watch` option"):
        parse_command("/watch t/p/r pid=1 2")


@pytest.mark.parametrize("value", ["-1", "0", "٣", "2147483648", "9" * 5000, "", "true"])
def test_bad_pull_request_numbers_never_pass(value: str) -> None:
    with pytest.raises(CommandError, match="must be a pull request number"):
        parse_command(f"/watch t/p/r pr={value}")


def test_log_paths_never_carry_nul_or_a_newline() -> None:
    with pytest.raises(CommandError, match="must be the path of a metrics file"):
        parse_command("/watch t/p/r log=/data/a\x00b.jsonl")
    for end in ("\n", "\r\n", "\r"):  # a newline ends the first line: the rest is never read
        command = parse_command(f"/watch t/p/r log=/data/a{end}b.jsonl")
        assert command == WatchCommand("t/p/r", log="/data/a")


# ---- /watch into the watch list ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "/watch my-team/llm/3kx9a2 host=gpu1 pid=48121 log=/data/runs/a/metrics.jsonl pr=17",
            {
                "wandb": "my-team/llm/3kx9a2",
                "host": "gpu1",
                "stop": {"pid": 48121},
                "log": "/data/runs/a/metrics.jsonl",
                "pr": 17,
            },
        ),
        ("/watch t/p/run-9 tmux=train-a", {"wandb": "t/p/run-9", "stop": {"tmux": "train-a"}}),
        ("/watch t/p/r slurm=991234 host=login1", {"wandb": "t/p/r", "host": "login1", "stop": {"slurm": 991234}}),
        ("/watch t/p/r", {"wandb": "t/p/r"}),
    ],
)
def test_watch_gives_a_dict_ready_for_add_entry(line: str, expected: dict[str, object]) -> None:
    command = parse_command(line)
    assert isinstance(command, WatchCommand)
    assert command.as_entry() == expected


@pytest.mark.parametrize(
    "before",
    [
        "",
        "# Runs\n\nNo block yet.\n",
        "Intro\r\n\r\n```yaml\r\nruns:\r\n  - log: /a/old.jsonl  # keep me\r\n```\r\nOutro\r\n",
    ],
)
def test_watch_output_round_trips_through_the_watch_list(before: str) -> None:
    command = parse_command("/watch my-team/llm/3kx9a2 host=gpu1 screen=exp.1 log=/data/m.jsonl pr=17")
    assert isinstance(command, WatchCommand)
    text = add_entry(before, command.as_entry(), "issue #1")
    watch = parse_watch_list(text, "issue #1")
    assert watch.problems == ()
    added = watch.entries[-1]
    assert added == WatchEntry(
        name="3kx9a2",
        wandb="my-team/llm/3kx9a2",
        host="gpu1",
        stop=StopTarget(StopKind.SCREEN, "exp.1"),
        log="/data/m.jsonl",
        baseline=None,
        pr=17,
        index=len(watch.entries),
    )
    assert WatchCommand(added.wandb or "", added.host, added.stop, added.log, added.pr) == command


def test_commands_cannot_be_built_in_an_illegal_state() -> None:
    for bad in ("", "all", "a b", "a\x00", "x" * 401):
        with pytest.raises(ValueError):
            RunRef(bad)
    for seconds in (0, 59, 30 * 86400 + 1, True):
        with pytest.raises(ValueError):
            SnoozeCommand(ALL, seconds)
    with pytest.raises(ValueError):
        StopCommand(ref("a"), "two\nlines")
    with pytest.raises(ValueError, match="must be entity/project/run_id"):
        WatchCommand("not-a-path")
    with pytest.raises(ValueError, match="must be the path of a metrics file"):
        WatchCommand("t/p/r", log="/a\nb")


# ---- durations --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1m", 60), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("90s", 90), ("1d12h", 129600), ("2h0m", 7200)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "m", "1.5h", "2H", "30min", "1m2h", "1h1h", "-1h", "٣h", "1 h", "1w"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(CommandError, match="is not a duration"):
        parse_duration(text)


@given(st.integers(min_value=60, max_value=30 * 86400))
def test_format_duration_reads_back_as_the_same_seconds(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds


def test_format_duration_examples_and_snooze_until() -> None:
    assert [format_duration(s) for s in (0, 90, 5400, 86400, 90061)] == ["0s", "1m30s", "1h30m", "1d", "1d1h1m1s"]
    assert snooze_until(1_000_000.0, 7200) == 1_007_200.0


# ---- run references ---------------------------------------------------------------------


def entry(name: str, wandb: str | None = None, index: int = 1) -> WatchEntry:
    log = None if wandb else f"/data/{name}.jsonl"
    return WatchEntry(name, wandb, None, None, log, None, None, index)


A = entry("pretrain-a", "team/llm/3kx9a2", 1)
B = entry("pretrain-b", "team/llm/7yq1b0", 2)
C = entry("finetune", "team/ft/3kx111", 3)
D = entry("local", None, 4)
ENTRIES = (A, B, C, D)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("pretrain-a", A),  # the name
        ("3kx9a2", A),  # the run id
        ("team/llm/7yq1b0", B),  # the full W&B path
        ("pretrain-b", B),
        ("fine", C),  # a unique prefix of the name
        ("7y", B),  # a unique prefix of the run id
        ("team/ft", C),  # a unique prefix of the path
        ("3kx9", A),  # unique although `3kx` is shared
        ("loc", D),  # a run with only a log file
    ],
)
def test_a_run_is_found_by_name_run_id_path_or_unique_prefix(text: str, found: WatchEntry) -> None:
    assert resolve_run(text, ENTRIES) == found
    assert resolve_run(RunRef(text), ENTRIES) == found


def test_an_exact_match_beats_a_prefix() -> None:
    short = entry("pre", "team/x/zz", 5)
    assert resolve_run("pre", (A, B, short)) == short
    by_id = entry("other", "team/x/pretrain", 6)
    assert resolve_run("pretrain", (A, B, by_id)) == by_id


def test_an_ambiguous_prefix_names_the_candidates() -> None:
    with pytest.raises(CommandError) as caught:
        resolve_run("pre", ENTRIES)
    assert caught.value.message == "`pre` matches `pretrain-a` and `pretrain-b`; give more of the name."
    with pytest.raises(CommandError) as caught:
        resolve_run("team/", ENTRIES)
    assert caught.value.message == "`team/` matches `pretrain-a`, `pretrain-b` and `finetune`; give more of the name."
    with pytest.raises(CommandError, match="`3kx` matches `pretrain-a` and `finetune`"):
        resolve_run("3kx", ENTRIES)


def test_an_exact_match_of_two_runs_is_ambiguous_too() -> None:
    clash = entry("3kx9a2", "team/other/abc", 5)  # its name is A's run id
    with pytest.raises(CommandError, match="`3kx9a2` matches `pretrain-a` and `3kx9a2`"):
        resolve_run("3kx9a2", (A, clash))


def test_no_match_lists_the_watched_runs() -> None:
    with pytest.raises(CommandError) as caught:
        resolve_run("x`y", ENTRIES)
    assert caught.value.message == (
        "No watched run matches `x?y`; watched: `pretrain-a`, `pretrain-b`, `finetune`, `local`."
    )
    assert caught.value.tip is not None
    with pytest.raises(CommandError, match=r"No watched run matches `a`; no run is watched\."):
        resolve_run("a", ())
    with pytest.raises(CommandError, match="No watched run matches"):
        resolve_run("", (A,))  # an empty reference is a prefix of everything: never a match
    with pytest.raises(CommandError, match="No watched run matches"):
        resolve_run("Pretrain-a", ENTRIES)  # case-sensitive


def test_targets_resolve_to_all_runs_or_one() -> None:
    assert resolve_target(ALL, ENTRIES) == ENTRIES
    assert resolve_target(ALL, ()) == ()
    assert resolve_target(RunRef("fine"), ENTRIES) == (C,)
    with pytest.raises(CommandError):
        resolve_target(RunRef("pre"), ENTRIES)


# ---- permissions and help ---------------------------------------------------------------

LEVELS = ("none", "read", "triage", "write", "maintain", "admin")


def test_the_permission_order_is_githubs() -> None:
    assert PERMISSION_ORDER == LEVELS


@pytest.mark.parametrize(("have", "need"), list(itertools.product(LEVELS, LEVELS)))
def test_permission_order_for_every_pair(have: str, need: str) -> None:
    assert allowed(have, need) is (LEVELS.index(have) >= LEVELS.index(need))


def test_permission_examples_and_unknown_levels() -> None:
    assert allowed("write", "write")
    assert allowed("maintain", "write")
    assert not allowed("triage", "write")
    assert not allowed("read", "triage")
    assert not allowed("security-manager", "read")  # a custom role name: never enough on its own
    assert not allowed("", "read")
    assert not allowed("Admin", "read")
    with pytest.raises(ValueError):
        allowed("admin", "owner")


def test_effective_permission_prefers_role_name_then_the_old_field() -> None:
    assert effective_permission("maintain", "write") == "maintain"
    assert effective_permission("triage", "read") == "triage"
    assert effective_permission(None, "admin") == "admin"
    assert effective_permission("security-manager", "write") == "write"
    assert effective_permission("custom", None) == "none"
    assert effective_permission(None, None) == "none"


def test_help_lists_every_command_on_one_line() -> None:
    text = help_text()
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert [line.split()[1].strip("`") for line in items] == [f"/{n.value}" for n in CommandName]
    assert "- `/snooze <run|all> <30m|2h|1d>` — keep checking, but no automatic stop" in text
    assert "unique prefix" in text
    for name in CommandName:
        assert usage(name).removeprefix("Usage: ") in text


# ---- property ---------------------------------------------------------------------------

WORDS = [f"/{n.value}" for n in CommandName]
PIECES = st.sampled_from(
    ["all", "2h", "0m", "30d", "t/p/r", "a/b", "pid=1", "tmux=a;b", "pr=17", "log=/x", "host=gpu1", "=", "`", "\x00"]
)
LINES = st.one_of(
    st.text(),
    st.builds(lambda w, rest: f"{w} {rest}", st.sampled_from(WORDS), st.text()),
    st.builds(lambda w, rest: " ".join([w, *rest]), st.sampled_from(WORDS), st.lists(PIECES | st.text(), max_size=6)),
)


@given(LINES)
def test_any_text_is_a_command_none_or_a_command_error(line: str) -> None:
    try:
        command = parse_command(line)
    except CommandError as e:
        assert e.message
        assert e.tip
        return
    if isinstance(command, WatchCommand):  # whatever parses is acceptable to the watch list
        assert parse_watch_list(add_entry("", command.as_entry()), "x").problems == ()
    assert command is None or line.strip().startswith("/")
