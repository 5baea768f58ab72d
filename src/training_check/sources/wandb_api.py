"""Read a W&B run's new metric rows through the real SDK (`wandb.Api`), a step range at a time.

A fetch loads the run (state, heartbeat, history keys and last step: one `Run` query),
then scans only the steps after the cursor with `run.scan_history(keys=..., min_step=...)`.
A keyed scan returns only rows holding *all* its keys, so keys are scanned in groups of
keys logged equally often (the training keys together, the eval keys together): few
scans, and no key hides another's rows. The sampled `run.history()` is never used: it can
drop the one row with the NaN.

wandb 0.31 retries a failing request for many minutes by default; `bound_sdk_retries`
makes it give up after one retry, and each fetch has a deadline on top, so a check never
hangs on W&B. Failures become `SourceUnreachable` (try later) or `SourceError` (the user
must fix something); the API key never appears in a message.
"""

from __future__ import annotations

import functools
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import numpy as np

from training_check.model import History
from training_check.sources.errors import SourceError
from training_check.sources.interface import Cursor, Fetched, RunState, SourceUnreachable
from training_check.sources.rows import HistoryBuilder
from training_check.sources.tabular import KEPT_PRIVATE_KEYS
from training_check.sources.values import parse_number, parse_step, snippet

_T = TypeVar("_T")
ApiFactory = Callable[[], Any]  # returns a `wandb.Api`; untyped, as the SDK is

DEADLINE_S = 20.0  # a whole fetch, however many requests it takes
ATTEMPT_TIMEOUT_S = 6.0  # one HTTP request inside wandb-core
CALL_TIMEOUT_S = 15.0  # Python's wait for one wandb-core answer (two attempts and a pause)
_POLL_S = 0.25  # how often the deadline looks at a fetch's progress
PAGE_SIZE = 1000  # steps per history page: the SDK's default, within the backend's limits
KEY_ENV = "WANDB_API_KEY"
KEY_TIP = (
    "set the W&B API key as the WANDB_API_KEY secret (https://wandb.ai/authorize) "
    "and pass it to training-check's environment"
)

_STATES = {  # W&B's run states; "pending" (not started yet) stays unknown
    "running": RunState.RUNNING,
    "preempting": RunState.RUNNING,
    "finished": RunState.FINISHED,
    "crashed": RunState.CRASHED,
    "preempted": RunState.CRASHED,
    "failed": RunState.FAILED,
    "killed": RunState.FAILED,
}


@functools.cache
def bound_sdk_retries() -> None:
    """Make wandb-core give up after one retry (it retries for ~20 minutes by default).

    These are process-wide SDK settings, read when a `wandb.Api` is created; only Apis
    created afterwards obey them. 0 retries would mean "the default" to wandb-core.
    """
    import wandb  # noqa: PLC0415  (a second of import time, paid only by W&B users)

    wandb.setup(
        settings=wandb.Settings(
            x_graphql_retry_max=1,
            x_graphql_retry_wait_min_seconds=1.0,
            x_graphql_retry_wait_max_seconds=2.0,
            x_graphql_timeout_seconds=ATTEMPT_TIMEOUT_S,
        )
    )


def api_factory(base_url: str | None = None, api_key: str | None = None) -> ApiFactory:
    """A factory of `wandb.Api`s: the key from `api_key` or $WANDB_API_KEY, read when called."""

    def make() -> Any:
        key = api_key or os.environ.get(KEY_ENV, "")
        if not key.strip():
            raise SourceError("no W&B API key: WANDB_API_KEY is not set", KEY_TIP)
        bound_sdk_retries()
        import wandb  # noqa: PLC0415

        overrides = {"base_url": base_url} if base_url else {}
        # Passing the key explicitly also keeps the SDK from ever prompting for one.
        return wandb.Api(overrides=overrides, api_key=key.strip(), timeout=int(CALL_TIMEOUT_S))

    return make


class WandbApiSource:
    """A W&B run read through the public API; `path` is "entity/project/run_id"."""

    name = "wandb"

    def __init__(
        self,
        path: str,
        api_factory: ApiFactory,
        deadline: float = DEADLINE_S,
        page_size: int = PAGE_SIZE,
    ) -> None:
        parts = path.strip().strip("/").split("/")
        if len(parts) != 3 or not all(parts):
            raise SourceError(
                f"W&B run path {path!r} is not entity/project/run_id",
                "copy it from the run's Overview page, e.g. my-team/my-project/abc123",
            )
        self.path = "/".join(parts)
        self.deadline = deadline
        self.page_size = page_size
        self._factory = api_factory
        self._run: Any = None  # kept between fetches: a reload is one query, a new Api two

    def fetch(self, cursor: Cursor | None) -> Fetched:
        """The rows after `cursor`; `SourceUnreachable`/`SourceError` when W&B fails."""
        started = time.monotonic()
        try:
            pulse = _Pulse()
            return with_deadline(self.deadline, lambda: self._fetch(cursor, pulse), pulse.progress)
        except SourceError:
            self._run = None  # a run object from a failed fetch may be in any state
            raise
        except Exception as error:
            self._run = None
            raise describe_failure(error, self.path, time.monotonic() - started) from None

    def _fetch(self, cursor: Cursor | None, pulse: _Pulse) -> Fetched:
        run = self._load()
        keys = run.history_keys or {}
        last = int(keys.get("lastStep", -1))
        previous = cursor.last_step if cursor else None
        reset = previous is not None and last < previous  # rewound, or a new run of that id
        start = 0 if reset or previous is None else previous + 1
        history = History({})
        if start <= last:
            history = _Scan(run, start, last, self.page_size, pulse).history(key_groups(keys))
        return Fetched(
            new=history,
            cursor=Cursor(last_step=last if last >= 0 else previous),
            reset=reset,
            state=_STATES.get(str(run.state), RunState.UNKNOWN),
            heartbeat=parse_time(run.heartbeat_at) or parse_time(run.created_at),
            notes=_notes(str(run.state), reset, previous, last),
        )

    def _load(self) -> Any:
        bound_sdk_retries()  # before the factory builds its Api
        if self._run is None:
            self._run = self._factory().run(self.path)
        else:
            self._run.load(force=True)
        return self._run


def key_groups(history_keys: Mapping[str, Any]) -> list[list[str]]:
    """The numeric history keys, grouped by how many values each has (most first).

    Keys logged together have equal counts, so each group is one keyed scan. Keys
    starting with "_" are W&B's bookkeeping (`_step` comes with every row anyway); the
    two that say when rows arrived are in every row, so they ride along with the first
    group without costing a scan of their own.
    """
    keys = history_keys.get("keys") or {}
    by_count: dict[int, list[str]] = {}
    for key, info in keys.items():
        kinds = info.get("typeCounts") if isinstance(info, Mapping) else None
        if not key.startswith("_") and any(kind.get("type") == "number" for kind in kinds or []):
            by_count.setdefault(_count(info), []).append(key)  # not media, not text
    groups = [sorted(group) for _, group in sorted(by_count.items(), reverse=True)]
    if groups:
        groups[0] += sorted(KEPT_PRIVATE_KEYS.intersection(keys))
    return groups


class _Pulse:
    """Signs that a fetch is getting answers, for the deadline: rows read, pages asked for."""

    def __init__(self) -> None:
        self.rows = 0
        self.scan: Any = None  # the `HistoryScan` being read; its `page_offset` moves per page

    def progress(self) -> object:
        return self.rows, getattr(self.scan, "page_offset", None)


class _Scan:
    """Keyed scans of steps [start, last], merged into one `History`.

    Each scan fills a builder of its own (16 bytes a value): merging rows by step in
    dicts first would cost ten times the memory on a long run.
    """

    def __init__(self, run: Any, start: int, last: int, page_size: int, pulse: _Pulse) -> None:
        self.run, self.start, self.last, self.page_size, self.pulse = run, start, last, page_size, pulse

    def history(self, groups: list[list[str]]) -> History:
        """Every group's values; a group whose keys turn out not to go together, key by key."""
        counts = self.run.history_keys.get("keys") or {}
        parts: list[History] = []
        for group in groups:
            got, part = self.group(group)
            expected = min(_count(counts.get(key)) for key in group if not key.startswith("_"))
            # On a full read all of a key's values arrive; a short scan means the group's
            # keys were not logged together (same counts by chance), so read them apart.
            if self.start == 0 and len(group) > 1 and got < expected:
                parts.extend(self.group([key])[1] for key in group)
            else:
                parts.append(part)
        return _merge(parts)

    def group(self, keys: list[str]) -> tuple[int, History]:
        """One keyed scan: the number of rows it returned, and their values."""
        builder = HistoryBuilder("row")
        count = 0
        scan: Iterable[Mapping[str, Any]] = self.run.scan_history(
            keys=keys, min_step=self.start, max_step=self.last + 1, page_size=self.page_size
        )
        self.pulse.scan = scan
        for row in scan:
            count += 1
            self.pulse.rows += 1
            step = parse_step(row.get("_step"))
            if step is None:
                builder.skip("no whole `_step`", snippet(repr(row.get("_step"))))
                continue
            metrics = {}
            for key in keys:
                number = parse_number(row.get(key))
                if number is None:
                    builder.where = f"step {step}"
                    builder.note(f"{key} is not a number", snippet(repr(row.get(key))))
                else:
                    metrics[key] = number
            builder.add(step, metrics)
        return count, builder.build()


def _merge(parts: list[History]) -> History:
    """One history of scans of different keys; a row is a step any of them had."""
    series = {name: values for part in parts for name, values in part.series.items()}
    steps = [values.steps for values in series.values()]
    rows = int(np.unique(np.concatenate(steps)).size) if steps else 0
    reasons = tuple(dict.fromkeys(reason for part in parts for reason in part.skip_reasons))
    return History(series, rows, sum(part.rows_skipped for part in parts), reasons)


def _count(info: Any) -> int:
    """How many values a `historyKeys` entry counts (nulls are not values)."""
    counts = info.get("typeCounts") if isinstance(info, Mapping) else None
    return sum(int(c.get("count", 0)) for c in counts or [] if c.get("type") != "nil")


def parse_time(value: object) -> float | None:
    """Epoch seconds of a W&B timestamp ("2024-05-01T12:00:00", UTC when no zone is given)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    seconds = moment.timestamp()
    return seconds if math.isfinite(seconds) else None


def _notes(state: str, reset: bool, previous: int | None, last: int) -> dict[str, str]:
    notes = {} if state in ("running", "finished", "crashed", "failed") else {"wandb_state": state}
    if reset:
        notes["reset"] = f"the run's last step went back from {previous} to {last}: read again"
    return notes


def with_deadline(seconds: float, work: Callable[[], _T], progress: Callable[[], object] = tuple) -> _T:
    """`work()` in a helper thread, given up on once `seconds` pass without progress.

    wandb-core honours a server's `retry-after` however long it is, and slow answers add
    up: only a deadline bounds a fetch. It counts from the last change of `progress()`
    (polled), so a long run read in many pages is not cut short while pages keep coming.
    A thread given up on is left to end when wandb-core does: a daemon, it never holds
    the process open.
    """
    outcome: list[_T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:  # handed to the caller's thread below
            failure.append(error)

    worker = threading.Thread(target=run, name="wandb-fetch", daemon=True)
    worker.start()
    seen, since = progress(), time.monotonic()
    while worker.is_alive():
        now = progress()
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            raise SourceUnreachable(f"W&B did not answer in {seconds:g} s")
        worker.join(min(_POLL_S, seconds))
    if failure:
        raise failure[0]
    return outcome[0]


def describe_failure(error: BaseException, path: str, elapsed: float) -> SourceError:
    """Our error for an SDK failure: unreachable (try later) or one the user must fix."""
    chain = _chain(error)
    names = {type(e).__name__ for e in chain}
    status = next((s for e in chain if (s := _http_status(e))), None)
    detail = _detail(error)
    if "RunNotFoundError" in names or status == 404:
        return SourceError(f"W&B run {path} not found: check the `wandb:` path", _PATH_TIP)
    if status is not None:
        return _answered(status, path, detail)
    if isinstance(error, OSError) or any(_NO_ANSWER.search(str(e)) for e in chain):
        late = _TIMED_OUT.search(detail)
        return SourceUnreachable(f"W&B did not answer in {elapsed:.0f} s" if late else f"could not reach W&B: {detail}")
    if "AuthenticationError" in names:  # raised before any request: a malformed key
        return SourceError(f"W&B did not accept the API key: {detail}", KEY_TIP)
    return SourceError(f"W&B refused the request for run {path}: {detail}")  # a GraphQL error


def _answered(status: int, path: str, detail: str) -> SourceError:
    """The error for an HTTP status W&B answered with (after wandb-core's one retry)."""
    if status in (401, 403):
        return SourceError(f"W&B rejected the API key (HTTP {status})", KEY_TIP)
    if status == 429:  # wandb-core does not pass the retry-after header on: its value is unknown
        return SourceUnreachable("W&B rate-limited us (HTTP 429), also after a retry: the next check tries again")
    if status >= 500:
        return SourceUnreachable(f"W&B failed (HTTP {status}), also after a retry: {detail}")
    return SourceError(f"W&B refused the request for run {path} (HTTP {status}): {detail}")


_PATH_TIP = "it is entity/project/run_id as in the run's URL; the API key must see that project"
_TIMED_OUT = re.compile(r"timeout|timed out|did not respond in time|deadline exceeded", re.IGNORECASE)
# wandb-core's words for a request that got no answer (a GraphQL error has none of them).
_NO_ANSWER = re.compile(r"giving up after|dial tcp|EOF|connection|did not respond|not running|no such host")
_STATUS = re.compile(r"\bHTTP ([1-5][0-9]{2})\b")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-]{40,}")  # API keys are 40+ such characters


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and its causes: `__cause__`, `__context__` and wandb's `exc` attribute."""
    chain: list[BaseException] = []
    item: BaseException | None = error
    while item is not None and all(item is not seen for seen in chain):
        chain.append(item)
        wrapped = getattr(item, "exc", None)
        item = wrapped if isinstance(wrapped, BaseException) else item.__cause__ or item.__context__
    return chain


def _http_status(error: BaseException) -> int | None:
    """The HTTP status W&B answered with: in `response` for a request wandb-core did not
    retry (401, 404), only in the text ("giving up after 2 attempt(s) ... HTTP 429") after."""
    status = getattr(getattr(error, "response", None), "http_status", None)
    if isinstance(status, int) and status > 0:
        return status
    match = _STATUS.search(str(error))
    return int(match.group(1)) if match else None


def _detail(error: BaseException) -> str:
    """The SDK's message, last line only (wandb-core repeats itself), without any key."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[-1].removeprefix("while retrying: ") if lines else type(error).__name__
    key = os.environ.get(KEY_ENV, "").strip()
    return _LONG_TOKEN.sub("***", text.replace(key, "***") if key else text)[:200]
