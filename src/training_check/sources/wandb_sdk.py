"""The plumbing around the W&B SDK: bounded retries, `wandb.Api` factories, deadlines, errors.

wandb 0.31 retries a failing request for many minutes by default; `bound_sdk_retries`
makes it give up after one retry, and `with_deadline` bounds a whole call on top, so a
check never hangs on W&B. `describe_failure` turns SDK failures into `SourceUnreachable`
(try later) or `SourceError` (the user must fix something); the API key never appears in
a message.
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from training_check.sources.errors import SourceError
from training_check.sources.interface import SourceUnreachable

_T = TypeVar("_T")
ApiFactory = Callable[[], Any]  # returns a `wandb.Api`; untyped, as the SDK is

DEADLINE_S = 20.0  # a whole fetch, however many requests it takes
ATTEMPT_TIMEOUT_S = 6.0  # one HTTP request inside wandb-core
CALL_TIMEOUT_S = 15.0  # Python's wait for one wandb-core answer (two attempts and a pause)
_POLL_S = 0.25  # how often the deadline looks at a fetch's progress
KEY_ENV = "WANDB_API_KEY"
KEY_TIP = (
    "set the W&B API key as the WANDB_API_KEY secret (https://wandb.ai/authorize) "
    "and pass it to training-check's environment"
)


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
