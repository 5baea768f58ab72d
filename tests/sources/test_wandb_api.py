"""The W&B API source and the stop evidence, through the real `wandb` SDK and the stand-in.

The SDK starts its `wandb-core` helper once per process; the module fixture points every
directory it writes to at a temporary one and tears the helper down afterwards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from servers.wandb_server import Close, Slow, Status, WandbStandIn
from support.wandb_home import isolated_wandb
from training_check.sources.errors import SourceError
from training_check.sources.interface import Cursor, Fetched, RunState, SourceUnreachable
from training_check.sources.names import detect_names
from training_check.sources.wandb_api import WandbApiSource, key_groups, parse_time
from training_check.sources.wandb_evidence import STOP_TAG, save_stop_evidence
from training_check.sources.wandb_sdk import api_factory

KEY = "local-" + "Sx3cret" * 6  # shaped like a real key (40+ characters), never to be shown
PATH = "team/proj/abc123"
NAN_STEP = 1234
HISTORY_OPERATIONS = {"RunHistoryKeys", "RunParquetHistory", "SampledHistoryPage"}


@pytest.fixture(scope="module", autouse=True)
def wandb_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every W&B directory in a temporary one, no key or server from outside, no helper left."""
    with isolated_wandb(tmp_path_factory.mktemp("wandb")) as root:
        yield root


@pytest.fixture
def server() -> Iterator[WandbStandIn]:
    with WandbStandIn(api_key=KEY) as stand_in:
        yield stand_in


def training_rows(first: int, last: int) -> list[dict[str, Any]]:
    """Train loss and lr every step, eval every 50 steps, a NaN loss at NAN_STEP."""
    rows = []
    for step in range(first, last):
        row: dict[str, Any] = {"_step": step, "train/loss": 3.0 * math.exp(-step / 700), "train/lr": 1e-3}
        if step == NAN_STEP:
            row["train/loss"] = math.nan
        if step % 50 == 49:
            row |= {"eval/loss": 2.0 - step / 10_000, "eval/accuracy": 0.5 + step / 10_000}
        rows.append(row)
    return rows


def source(server: WandbStandIn, path: str = PATH, key: str = KEY) -> WandbApiSource:
    return WandbApiSource(path, api_factory(server.base_url, key))


def specs(server: WandbStandIn) -> list[str]:
    return [str(r.variables["spec"]) for r in server.requests if r.operation == "SampledHistoryPage"]


def assert_secret_kept(error: BaseException) -> None:
    for text in (str(error), getattr(error, "message", ""), getattr(error, "tip", "") or ""):
        assert KEY not in text and KEY[6:26] not in text


def test_first_fetch_reads_every_step_and_the_nan(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 2000))

    fetched = source(server).fetch(None)

    loss = fetched.new.series["train/loss"]
    assert len(loss) == 2000 and list(loss.steps[:3]) == [0, 1, 2]
    assert list(loss.steps[np.isnan(loss.values)]) == [NAN_STEP]  # the sampled history() could drop it
    evals = fetched.new.series["eval/loss"]
    assert list(evals.steps) == list(range(49, 2000, 50))
    assert evals.values[0] == pytest.approx(2.0 - 49 / 10_000)
    assert len(fetched.new.series["train/lr"]) == 2000
    names = detect_names(fetched.new.series)
    assert (names.loss, names.eval, names.lr) == ("train/loss", "eval/loss", "train/lr")
    assert fetched.cursor == Cursor(last_step=1999)
    assert fetched.new.skip_reasons == () and fetched.new.rows_read == 2000
    # One scan for the keys logged every step, one for the eval keys; 1000-step pages.
    assert server.rows_returned() == 2000 + 40
    assert server.count("SampledHistoryPage") == 4
    assert {r.operation for r in server.requests} <= {"Viewer", "GetDefaultEntity", "Run"} | HISTORY_OPERATIONS


def test_next_fetch_transfers_only_the_new_steps(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 2000))
    reader = source(server)
    first = reader.fetch(None)
    server.reset_records()
    server.append_rows("team", "proj", "abc123", training_rows(2000, 2300))

    second = reader.fetch(first.cursor)

    assert server.rows_returned() == 300 + 6
    assert server.count("SampledHistoryPage") == 2
    assert all('"minStep":2000' in spec.replace(" ", "") for spec in specs(server))
    assert {r.operation for r in server.requests} == {"Run"} | HISTORY_OPERATIONS  # the Api is reused
    assert list(second.new.series["train/loss"].steps) == list(range(2000, 2300))
    assert list(second.new.series["eval/loss"].steps) == list(range(2049, 2300, 50))
    assert second.cursor == Cursor(last_step=2299)

    server.reset_records()
    third = reader.fetch(second.cursor)  # nothing new: no history request at all
    assert third.new.series == {} and third.cursor == second.cursor
    assert [r.operation for r in server.requests] == ["Run"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("finished", RunState.FINISHED),
        ("crashed", RunState.CRASHED),
        ("failed", RunState.FAILED),
        ("killed", RunState.FAILED),
        ("pending", RunState.UNKNOWN),
    ],
)
def test_run_state_and_heartbeat(server: WandbStandIn, state: str, expected: RunState) -> None:
    beat = 1_750_000_000.0
    server.add_run("team", "proj", "abc123", training_rows(0, 10), state=state, heartbeat=beat)

    fetched = source(server).fetch(None)

    assert fetched.state is expected
    assert fetched.heartbeat == beat
    assert fetched.notes == ({} if state in ("finished", "crashed", "failed") else {"wandb_state": state})


def test_a_run_that_ends_between_fetches(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 100))
    reader = source(server)
    first = reader.fetch(None)
    server.set_state("team", "proj", "abc123", "crashed", heartbeat=1_750_000_000.0)

    second = reader.fetch(first.cursor)

    assert (first.state, second.state) == (RunState.RUNNING, RunState.CRASHED)
    assert second.heartbeat == 1_750_000_000.0 and second.new.series == {}


def test_stalled_run_is_reported_running_with_its_old_heartbeat(server: WandbStandIn) -> None:
    beat = float(int(time.time()) - 3 * 3600)  # W&B has not heard from it for three hours
    server.add_run("team", "proj", "abc123", training_rows(0, 100), heartbeat=beat)

    fetched = source(server).fetch(None)

    assert fetched.state is RunState.RUNNING
    assert fetched.heartbeat == beat


def test_keys_with_equal_counts_not_logged_together_are_read_apart(server: WandbStandIn) -> None:
    rows = [{"_step": s, ("even" if s % 2 == 0 else "odd"): float(s)} for s in range(200)]
    server.add_run("team", "proj", "abc123", rows)

    fetched = source(server).fetch(None)

    assert list(fetched.new.series["even"].steps) == list(range(0, 200, 2))
    assert list(fetched.new.series["odd"].steps) == list(range(1, 200, 2))


def test_a_run_whose_steps_went_back_is_read_again(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 100))

    fetched = source(server).fetch(Cursor(last_step=500))

    assert fetched.reset and "went back from 500 to 99" in fetched.notes["reset"]
    assert len(fetched.new.series["train/loss"]) == 100


def test_values_that_are_not_numbers_are_noted_not_fatal(server: WandbStandIn) -> None:
    rows: list[dict[str, Any]] = [{"_step": s, "loss": 1.0} for s in range(5)]
    rows[2]["loss"] = "oops"
    rows[3]["loss"] = math.inf
    server.add_run("team", "proj", "abc123", rows)

    history = source(server).fetch(None).new

    assert list(history.series["loss"].steps) == [0, 1, 3, 4]
    assert history.series["loss"].values[2] == math.inf
    assert any("loss is not a number" in reason for reason in history.skip_reasons)


# --- failures ---------------------------------------------------------------------------


def fetch_error(reader: WandbApiSource, cursor: Cursor | None = None) -> tuple[SourceError, float]:
    started = time.monotonic()
    with pytest.raises(SourceError) as caught:
        reader.fetch(cursor)
    assert_secret_kept(caught.value)
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize(
    ("fault", "operation", "message"),
    [
        (Slow(60), "SampledHistoryPage", "W&B did not answer in 1"),  # two 6 s attempts
        (Status(429, retry_after=1), None, "W&B rate-limited us (HTTP 429)"),
        (Status(500), None, "W&B failed (HTTP 500)"),
        (Status(503), "Run", "W&B failed (HTTP 503)"),
        (Close(), None, "could not reach W&B"),
    ],
    ids=["slow", "429", "500", "503-on-run", "closed"],
)
def test_faults_become_unreachable_quickly(
    server: WandbStandIn, fault: Any, operation: str | None, message: str
) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 100))
    server.inject(fault, operation)

    error, took = fetch_error(source(server))

    assert isinstance(error, SourceUnreachable)
    assert message in error.message
    assert took < 30


def test_the_deadline_bounds_a_long_retry_after(server: WandbStandIn) -> None:
    """wandb-core would wait out a 30 s retry-after; the fetch gives up at its deadline."""
    server.add_run("team", "proj", "abc123", training_rows(0, 100))
    server.inject(Status(429, retry_after=30), "SampledHistoryPage")
    reader = WandbApiSource(PATH, api_factory(server.base_url, KEY), deadline=4)

    error, took = fetch_error(reader)

    assert isinstance(error, SourceUnreachable) and error.message == "W&B did not answer in 4 s"
    assert took < 6


def test_the_deadline_counts_silence_not_the_whole_read(server: WandbStandIn) -> None:
    """Pages that keep coming, each slower than nothing, never trip a deadline shorter than the read."""
    server.add_run("team", "proj", "abc123", training_rows(0, 600))
    server.inject(Slow(0.3), "SampledHistoryPage")  # every page
    reader = WandbApiSource(PATH, api_factory(server.base_url, KEY), deadline=1, page_size=100)

    started = time.monotonic()
    fetched = reader.fetch(None)

    assert time.monotonic() - started > 2  # 12 pages
    assert len(fetched.new.series["train/loss"]) == 600


def test_a_server_that_went_away_is_unreachable(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 100))
    reader = source(server)
    cursor = reader.fetch(None).cursor
    server.stop()

    error, took = fetch_error(reader, cursor)

    assert isinstance(error, SourceUnreachable)
    assert "could not reach W&B" in error.message and "connection refused" in error.message
    assert took < 30


def test_a_fetch_after_a_failure_starts_afresh(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 100))
    reader = source(server)
    server.inject(Status(500), "RunParquetHistory", times=2)
    fetch_error(reader)

    assert isinstance(reader.fetch(None), Fetched)


@pytest.mark.parametrize("path", ["team/proj/nope", "team/elsewhere/abc123"])
def test_missing_run_names_the_path(server: WandbStandIn, path: str) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 10))

    error, _ = fetch_error(source(server, path))

    assert type(error) is SourceError
    assert error.message == f"W&B run {path} not found: check the `wandb:` path"


def test_wrong_key_is_rejected_without_showing_it(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 10))

    error, _ = fetch_error(source(server, key="local-" + "W" * 40))

    assert type(error) is SourceError
    assert "rejected the API key (HTTP 401)" in error.message
    assert error.tip is not None and "WANDB_API_KEY" in error.tip


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Status(403, message="forbidden"), "W&B rejected the API key (HTTP 403)"),
        (Status(200, message="permission denied"), "W&B refused the request for run team/proj/abc123: "),
        (Status(400, message="bad spec"), "W&B refused the request for run team/proj/abc123 (HTTP 400)"),
    ],
    ids=["403", "graphql-error", "400"],
)
def test_answers_that_refuse_are_source_errors(server: WandbStandIn, fault: Status, message: str) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 10))
    server.inject(fault, "Run")

    error, _ = fetch_error(source(server))

    assert type(error) is SourceError and error.message.startswith(message)


def test_missing_key_is_a_tip_about_the_secret(server: WandbStandIn) -> None:
    reader = WandbApiSource(PATH, api_factory(server.base_url))

    error, _ = fetch_error(reader)

    assert type(error) is SourceError and "WANDB_API_KEY is not set" in error.message
    assert error.tip is not None and "secret" in error.tip
    assert server.count() == 0


def test_key_from_the_environment(server: WandbStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", KEY)
    server.add_run("team", "proj", "abc123", training_rows(0, 10))

    assert WandbApiSource(PATH, api_factory(server.base_url)).fetch(None).cursor.last_step == 9


def test_malformed_key_is_a_source_error(server: WandbStandIn) -> None:
    error, _ = fetch_error(source(server, key="too-short"))

    assert type(error) is SourceError and "API key" in error.message


@pytest.mark.parametrize("path", ["abc123", "team/abc123", "team//abc123", "a/b/c/d"])
def test_a_path_that_is_not_entity_project_run_is_refused(path: str) -> None:
    with pytest.raises(SourceError, match="is not entity/project/run_id"):
        WandbApiSource(path, api_factory("http://127.0.0.1:9", KEY))


def test_nothing_of_the_key_in_the_sdk_logs(server: WandbStandIn, wandb_env: Path) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 10))
    source(server).fetch(None)

    for log in wandb_env.rglob("*"):
        if log.is_file():
            assert KEY.encode() not in log.read_bytes()


# --- stop evidence ----------------------------------------------------------------------


def test_stop_evidence_reaches_the_run(server: WandbStandIn) -> None:
    run = server.add_run("team", "proj", "abc123", training_rows(0, 10))
    run.notes, run.tags = "lr sweep, arm 3", ["sweep"]
    factory = api_factory(server.base_url, KEY)

    save_stop_evidence(factory, PATH, "Stopped by training-check at step 9: loss is NaN.")
    save_stop_evidence(factory, PATH, "Stopped by training-check at step 9: loss is NaN.")  # a retry

    assert run.notes == "lr sweep, arm 3\n\n---\n\nStopped by training-check at step 9: loss is NaN."
    assert run.tags == ["sweep", STOP_TAG]
    upserts = [r.variables for r in server.requests if "notes" in r.variables]
    assert upserts and upserts[-1]["tags"] == ["sweep", STOP_TAG]


def test_stop_evidence_failures_are_source_errors(server: WandbStandIn) -> None:
    server.add_run("team", "proj", "abc123", training_rows(0, 10))
    factory = api_factory(server.base_url, KEY)

    with pytest.raises(SourceError, match="not found"):
        save_stop_evidence(factory, "team/proj/nope", "evidence")
    server.inject(Status(500), "UpsertBucket")
    with pytest.raises(SourceUnreachable, match="HTTP 500") as caught:
        save_stop_evidence(factory, PATH, "evidence")
    assert_secret_kept(caught.value)
    server.stop()
    with pytest.raises(SourceUnreachable, match="could not reach W&B"):
        save_stop_evidence(factory, PATH, "evidence")


# --- pieces -----------------------------------------------------------------------------


def test_key_groups_keep_numeric_keys_grouped_by_count() -> None:
    def counts(*pairs: tuple[str, int]) -> dict[str, Any]:
        return {"typeCounts": [{"type": kind, "count": n} for kind, n in pairs]}

    keys = {
        "_step": counts(("number", 9)),
        "_wandb": counts(("map", 1)),
        "_runtime": counts(("number", 9)),
        "loss": counts(("number", 8), ("string", 1)),  # a NaN sent as text still counts
        "lr": counts(("number", 9)),
        "eval/loss": counts(("number", 3), ("nil", 6)),
        "samples": counts(("table-file", 3)),
        "note": counts(("string", 9)),
    }

    assert key_groups({"lastStep": 8, "keys": keys}) == [["loss", "lr", "_runtime"], ["eval/loss"]]
    assert key_groups({}) == []


def test_parse_time() -> None:
    assert parse_time("2024-01-01T00:00:00") == 1_704_067_200.0
    assert parse_time("2024-01-01T01:00:00+01:00") == 1_704_067_200.0
    assert parse_time("2024-01-01T00:00:00Z") == 1_704_067_200.0
    assert parse_time(None) is None and parse_time("") is None and parse_time("yesterday") is None


def test_stand_in_pages_like_the_backend() -> None:
    """Inclusive step bounds, rows holding every key, downsampling beyond `samples`."""
    with WandbStandIn() as stand_in:
        run = stand_in.add_run(
            "e", "p", "r", [{"_step": s, "a": 1.0, **({"b": 2.0} if s % 2 else {})} for s in range(10)]
        )

    assert [r["_step"] for r in run.sampled({"keys": ["_step", "a"], "minStep": 2, "maxStep": 4, "samples": 3})] == [
        2,
        3,
        4,
    ]
    assert [r["_step"] for r in run.sampled({"keys": ["_step", "b"], "minStep": 0, "maxStep": 9, "samples": 10})] == [
        1,
        3,
        5,
        7,
        9,
    ]
    assert len(run.sampled({"keys": ["a"], "minStep": 0, "maxStep": 9, "samples": 4})) == 4
