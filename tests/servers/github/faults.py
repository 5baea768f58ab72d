"""Programmable faults: the next N requests (optionally only those matching a method and a
path pattern) fail the way GitHub fails — a 5xx, a rate limit with its headers, a 429 —
or are answered late.

    api.inject(Fault.server_error(502), times=2, method="GET", path="/repos/*/issues/*")
    api.inject(Fault.rate_limited(retry_after=1))
    api.inject(Fault.slow(0.5))        # answered normally, half a second late
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .objects import error

SECONDARY = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000."
)
PRIMARY = "API rate limit exceeded for user ID {user_id}."


@dataclass(frozen=True)
class Fault:
    """How one request goes wrong; `status` None means served normally after `delay`."""

    status: int | None = 500
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        """A 5xx with GitHub's short JSON message."""
        message = {500: "Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Server Error")
        return cls(status, error(status, message))

    @classmethod
    def rate_limited(cls, retry_after: int = 1, primary: bool = False, user_id: int = 1) -> Fault:
        """403 with `retry-after`, `x-ratelimit-remaining: 0` and `x-ratelimit-reset`.

        Secondary (default) or primary wording: PyGithub tells them apart by the message."""
        message = PRIMARY.format(user_id=user_id) if primary else SECONDARY
        return cls(403, error(403, message), _limit_headers(retry_after))

    @classmethod
    def too_many_requests(cls, retry_after: int = 1) -> Fault:
        """429, which GitHub sends for some secondary limits, with the same headers."""
        return cls(429, error(429, SECONDARY), _limit_headers(retry_after))

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Answer normally, `seconds` late (to exercise client timeouts)."""
        return cls(None, delay=seconds)


def _limit_headers(retry_after: int) -> dict[str, str]:
    return {
        "retry-after": str(retry_after),
        "x-ratelimit-limit": "5000",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-used": "5000",
        "x-ratelimit-reset": str(int(time.time()) + retry_after),
        "x-ratelimit-resource": "core",
    }


@dataclass
class _Armed:
    fault: Fault
    remaining: int
    method: str | None
    path: str | None

    def matches(self, method: str, path: str) -> bool:
        method_ok = self.method is None or self.method.upper() == method
        return method_ok and (self.path is None or fnmatch.fnmatchcase(path, self.path))


class Faults:
    """The armed faults; the first one matching a request is spent on it."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()

    def inject(self, fault: Fault, times: int = 1, method: str | None = None, path: str | None = None) -> None:
        """Spend `fault` on the next `times` requests matching `method` and the glob `path`."""
        with self._lock:
            self._armed.append(_Armed(fault, times, method, path))

    def take(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any is armed for it."""
        with self._lock:
            for armed in self._armed:
                if armed.matches(method, path):
                    armed.remaining -= 1
                    if armed.remaining <= 0:
                        self._armed.remove(armed)
                    return armed.fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()
