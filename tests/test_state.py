"""The bot state: JSON round trips, strict reading, defaults with a notice, hidden embedding."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from training_check.model import StopKind, StopOutcome, StopRecord, StopStep, StopTarget, Verdict
from training_check.state import (
    RECENT_VERDICTS,
    STATE_VERSION,
    RunState,
    State,
    StateError,
    embed_state,
    extract_state,
    load_state_or_default,
    state_from_json,
    state_to_json,
)

STOP = StopRecord(
    target=StopTarget(StopKind.TMUX, "train-a"),
    requested_at=1_795_000_100.5,
    by="@alice",
    reason="loss diverged <fast> --> stop",
    steps=(StopStep("SIGINT", 1_795_000_101.0), StopStep("exit seen", 1_795_000_130.25)),
    outcome=StopOutcome.STOPPED,
    detail="exited after SIGINT",
)
FULL = RunState(
    last_step=12_000,
    interval_minutes=20,
    next_due=1_795_001_200.0,
    snoozed_until=1_795_003_600.0,
    recent_verdicts=(Verdict.FINE, Verdict.UNSURE, Verdict.BAD),
    stop=STOP,
    review_count=2,
    log_offset=81_920,
    first_seen=1_794_990_000.0,
    started_at=1_794_980_000.0,
    finished=True,
    review_decision="STOP",
    review_reason="eval loss rising for 3 evals",
    last_verdict=Verdict.BAD,
    last_reason="loss is NaN since step 11800",
    last_loss=math.nan,
)


def test_a_full_state_round_trips() -> None:
    state = State(runs={"a": FULL, "b": RunState()}, cron="*/10 * * * *", last_command=123456789)
    text = state_to_json(state)
    back = state_from_json(text)
    assert back.runs["a"].last_loss is not None and math.isnan(back.runs["a"].last_loss)
    assert back.runs["a"] == replace(FULL, last_loss=back.runs["a"].last_loss)  # NaN != NaN
    assert back.runs["b"] == RunState()
    assert (back.cron, back.last_command) == (state.cron, state.last_command)
    assert state_to_json(back) == text


def test_json_is_compact_sorted_deterministic_and_never_closes_a_comment() -> None:
    text = state_to_json(State(runs={"z": FULL, "a": RunState(last_step=1)}))
    compact = json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert text == compact.replace("<", "\\u003c").replace(">", "\\u003e")
    assert text.index('"a"') < text.index('"z"')
    assert "-->" not in text and "<" not in text and ">" not in text
    assert "\\u003e" in text
    assert state_to_json(state_from_json(text)) == text
    assert json.loads(text)["version"] == STATE_VERSION


def test_default_fields_are_left_out_to_keep_the_state_small() -> None:
    assert state_to_json(State(runs={"a": RunState()})) == '{"runs":{"a":{}},"version":1}'


def test_infinite_losses_survive() -> None:
    for loss in (math.inf, -math.inf, 2.5):
        back = state_from_json(state_to_json(State(runs={"a": RunState(last_loss=loss)})))
        assert back.runs["a"].last_loss == loss


def test_with_verdict_keeps_only_the_recent_ones() -> None:
    run = RunState()
    for i in range(RECENT_VERDICTS + 3):
        run = run.with_verdict(Verdict.BAD if i == RECENT_VERDICTS + 2 else Verdict.FINE, f"reason {i}")
    assert len(run.recent_verdicts) == RECENT_VERDICTS
    assert run.recent_verdicts[-1] == Verdict.BAD
    assert (run.last_verdict, run.last_reason) == (Verdict.BAD, f"reason {RECENT_VERDICTS + 2}")


def test_state_helpers_give_fresh_runs_and_replace_one() -> None:
    state = State().with_run("a", RunState(last_step=5))
    assert state.run("a").last_step == 5
    assert state.run("new") == RunState()
    assert State().runs == {}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "the state must be a JSON object, not list"),
        ('{"runs": {}}', "it has no version number"),
        ('{"version": true}', "it has no version number"),
        ('{"version": 0}', "it has unknown version 0"),
        ('{"version": 1, "runs": []}', "`runs` must be a JSON object, not list"),
        ('{"version": 1, "extra": 1}', "the state has an unknown field `extra`"),
        ('{"version": 1, "runs": {"a": {"next_due": "soon"}}}', "`runs.a.next_due` must be float, not str"),
        ('{"version": 1, "runs": {"a": {"next_due": NaN}}}', "`runs.a.next_due` must be float"),
        ('{"version": 1, "runs": {"a": {"last_step": 1.5}}}', "`runs.a.last_step` must be int, not float"),
        ('{"version": 1, "runs": {"a": {"log_offset": -1}}}', "`runs.a.log_offset` must not be negative"),
        (
            '{"version": 1, "runs": {"a": {"review_count": true}}}',
            "`runs.a.review_count` must be int, not bool",
        ),
        ('{"version": 1, "runs": {"a": {"finished": 1}}}', "`runs.a.finished` must be bool, not int"),
        ('{"version": 1, "runs": {"a": {"recent_verdicts": ["meh"]}}}', "is not a known Verdict"),
        ('{"version": 1, "runs": {"a": {"wat": 1}}}', "`runs.a` has an unknown field `wat`"),
        ('{"version": 1, "runs": {"": {}}}', "a run has an empty name"),
        ('{"version": 1, "cron": 5}', "`cron` must be str, not int"),
    ],
)
def test_corrupt_states_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(StateError) as caught:
        state_from_json(text)
    assert reason in caught.value.reason
    assert caught.value.message.startswith("The bot state is corrupt") or "version" in reason
    assert caught.value.tip is not None


def test_a_hostile_stop_target_in_the_state_is_refused() -> None:
    record = json.loads(state_to_json(State(runs={"a": RunState(stop=STOP)})))
    record["runs"]["a"]["stop"]["target"] = {"kind": "tmux", "value": "x; reboot"}
    with pytest.raises(StateError, match=r"`runs\.a\.stop\.target` is invalid"):
        state_from_json(json.dumps(record))
    record["runs"]["a"]["stop"]["target"] = {"kind": "pid", "value": "1 2"}
    with pytest.raises(StateError, match="pid must be a positive whole number"):
        state_from_json(json.dumps(record))
    record["runs"]["a"]["stop"]["outcome"] = "exploded"
    record["runs"]["a"]["stop"]["target"] = {"kind": "pid", "value": "12"}
    with pytest.raises(StateError, match="not a known StopOutcome"):
        state_from_json(json.dumps(record))


def test_a_newer_version_says_so() -> None:
    with pytest.raises(StateError) as caught:
        state_from_json(json.dumps({"version": STATE_VERSION + 1, "runs": {}}))
    assert "written by a newer training-check" in caught.value.message
    assert caught.value.condition == "unreadable"


def test_missing_corrupt_or_newer_state_becomes_the_default_with_a_notice() -> None:
    state, notice = load_state_or_default(None)
    assert state == State()
    assert notice == (
        "The bot state was missing (no state block was found) and was rebuilt from defaults; "
        "runs will be checked at once."
    )
    state, notice = load_state_or_default("{broken")
    assert state == State()
    assert notice is not None
    assert notice.startswith("The bot state was corrupt (not valid JSON (")
    assert notice.endswith("and was rebuilt from defaults; runs will be checked at once.")
    state, notice = load_state_or_default('{"version": 99}')
    assert state == State()
    assert notice is not None and "written by a newer training-check" in notice


def test_a_good_state_loads_without_a_notice() -> None:
    state = State(runs={"a": RunState(last_step=3)})
    assert load_state_or_default(state_to_json(state)) == (state, None)


def test_embed_and_extract_round_trip_and_replace_the_old_state() -> None:
    first = embed_state("# Dashboard\n\n| run | verdict |\n", State(runs={"a": RunState(last_step=1)}))
    assert first.startswith("# Dashboard\n\n| run | verdict |\n\n<!-- training-check:state {")
    assert first.endswith(" -->\n")
    second = embed_state(first, State(runs={"a": FULL}))
    assert second.count("training-check:state") == 1
    hidden = extract_state(second)
    assert hidden is not None
    assert state_from_json(hidden).runs["a"].stop == STOP
    assert extract_state("# no state here") is None
    assert embed_state("", State()) == '<!-- training-check:state {"runs":{},"version":1} -->\n'


def test_the_last_state_comment_wins_over_a_look_alike_earlier_in_the_text() -> None:
    fake = '<!-- training-check:state {"version":1,"runs":{"a":{"finished":true}}} -->'
    markdown = embed_state(f"Problem: log `{fake}` is odd\n", State(runs={"a": RunState()}))
    hidden = extract_state(markdown)
    assert hidden is not None
    assert state_from_json(hidden).runs["a"].finished is False


# ---- property: any state survives a round trip ------------------------------------------

times = st.none() | st.floats(min_value=0, max_value=4e9, allow_nan=False)
texts = st.none() | st.text(max_size=30)
stop_records = st.builds(
    StopRecord,
    target=st.one_of(
        st.builds(
            StopTarget,
            st.sampled_from([StopKind.PID, StopKind.PGID, StopKind.SLURM]),
            st.integers(1, 2**31 - 1).map(str),
        ),
        st.builds(
            StopTarget,
            st.sampled_from([StopKind.TMUX, StopKind.SCREEN]),
            st.from_regex(r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,19}", fullmatch=True),
        ),
    ),
    requested_at=st.floats(0, 4e9),
    by=st.text(max_size=10),
    reason=st.text(max_size=30),
    steps=st.lists(st.builds(StopStep, st.text(max_size=8), st.floats(0, 4e9)), max_size=3).map(tuple),
    outcome=st.sampled_from(StopOutcome),
    detail=st.text(max_size=20),
)
run_states = st.builds(
    RunState,
    last_step=st.none() | st.integers(0, 10**12),
    interval_minutes=st.none() | st.integers(1, 1440),
    next_due=times,
    snoozed_until=times,
    recent_verdicts=st.lists(st.sampled_from(Verdict), max_size=RECENT_VERDICTS).map(tuple),
    stop=st.none() | stop_records,
    review_count=st.integers(0, 100),
    log_offset=st.integers(0, 10**12),
    first_seen=times,
    started_at=times,
    finished=st.booleans(),
    review_decision=texts,
    review_reason=texts,
    last_verdict=st.none() | st.sampled_from(Verdict),
    last_reason=texts,
    last_loss=st.none() | st.floats(allow_nan=False),
)
states = st.builds(
    State,
    runs=st.dictionaries(st.text(min_size=1, max_size=10), run_states, max_size=3),
    cron=texts,
    last_command=st.none() | st.integers(0, 2**62),
)


@given(states)
def test_any_state_round_trips_through_json_and_markdown(state: State) -> None:
    text = state_to_json(state)
    assert state_from_json(text) == state
    assert "-->" not in text
    hidden = extract_state(embed_state("# Dashboard\n", state))
    assert hidden == text
