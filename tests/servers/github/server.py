"""The HTTP side of the stand-in: a threaded server on 127.0.0.1 that authenticates, applies
armed faults, routes, records every request, and validates every answer against the spec
before it leaves (a response that breaks the spec is recorded and replaced by HTTP 599).
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from github import Auth, Github

from . import issue_routes, repo_routes
from .faults import Fault, Faults
from .objects import Site, error, rate_limit
from .openapi import Spec, load_spec
from .routing import Call, HTTPError, Reply, find
from .seed import BOT_TOKEN, Seeding
from .state import Token, World

ROUTERS = (issue_routes.router, repo_routes.router)
RATE_LIMIT = 5000
VIOLATION = 599  # not a status GitHub uses: a client can never mistake it for a real answer


@dataclass(frozen=True)
class Recorded:
    """One request as received: the query's first values, the body parsed as JSON."""

    method: str
    path: str
    query: Mapping[str, str]
    body: Any
    headers: Mapping[str, str]


class GitHubStandIn(Seeding):
    """GitHub's REST API for the endpoints the product uses; use it as a context manager."""

    def __init__(self, spec: Spec | None = None) -> None:
        self.spec = spec or load_spec()
        self.world = World()
        self.lock = threading.RLock()  # one request or set-up step changes the world at a time
        self.faults = Faults()
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.stopping = threading.Event()
        self._tampers: list[Callable[[Any], Any]] = []
        self._used: dict[str, int] = {}  # token -> requests counted against its rate limit
        self._reset = int(time.time()) + 3600
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="github-stand-in"
        )

    # -- for tests ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What to give PyGithub as `base_url`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def client(self, token: str = BOT_TOKEN, **options: Any) -> Github:
        """A real PyGithub client for this stand-in: no retries and no pacing unless asked."""
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "auth": Auth.Token(token),
            "retry": None,
            "seconds_between_requests": 0,
            "seconds_between_writes": 0,
            "timeout": 10,
        }
        return Github(**{**settings, **options})

    def inject(self, fault: Fault, times: int = 1, method: str | None = None, path: str | None = None) -> None:
        """Make the next `times` requests matching `method` and the glob `path` fail with `fault`."""
        self.faults.inject(fault, times, method, path)

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """The recorded requests, optionally only one method and a glob of paths."""
        with self.lock:
            return [
                each
                for each in self.requests
                if (method is None or each.method == method.upper())
                and (path is None or fnmatch.fnmatchcase(each.path, path))
            ]

    def clear_requests(self) -> None:
        """Forget the recorded requests (to count those of one cycle)."""
        with self.lock:
            self.requests.clear()

    def tamper_next(self, change: Callable[[Any], Any]) -> None:
        """Test-only: pass the next successful response body through `change` before it is
        validated, to prove that a response breaking the spec is caught."""
        with self.lock:
            self._tampers.append(change)

    def assert_conforms(self) -> None:
        """Fail when any response the stand-in built broke GitHub's spec."""
        if self.violations:
            raise AssertionError(
                "the GitHub stand-in sent responses that break GitHub's OpenAPI spec (or lacks an endpoint):\n"
                + "\n".join(self.violations)
            )

    # -- serving ----------------------------------------------------------------------------

    def answer(self, method: str, target: str, raw: bytes, headers: Mapping[str, str]) -> Reply:
        """The full answer to one request: record, fault, serve, validate."""
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self.lock:
            self.requests.append(Recorded(method, path, query, body, headers))
        fault = self.faults.take(method, path)
        if fault is not None and fault.delay and self.stopping.wait(fault.delay):
            return Reply(503, error(503, "Service Unavailable"))  # shutting down: nobody is waiting
        if fault is not None and fault.status is not None:
            reply = Reply(fault.status, fault.body, dict(fault.headers))
        elif isinstance(body, str):
            reply = Reply(400, error(400, "Problems parsing JSON"))
        else:
            reply = self._serve(method, path, query, body, headers)
        return self._validated(method, path, reply)

    def _serve(self, method: str, path: str, query: dict[str, str], body: Any, headers: Mapping[str, str]) -> Reply:
        limits: dict[str, str] = {}
        try:
            token = self._authenticate(headers)
            limits = self._count(token, path)
            if method == "GET" and path == "/rate_limit":
                used = self._used.get(token.value, 0)
                return Reply(200, rate_limit(RATE_LIMIT, RATE_LIMIT - used, self._reset), limits)
            found = find(ROUTERS, method, path)
            if found is None:
                self._unimplemented(method, path)
                raise HTTPError(404, "Not Found")
            handler, params = found
            site = Site(headers.get("host") or self.base_url.removeprefix("http://"))
            call = Call(self.world, site, method, path, query, body, token, params)
            with self.lock:
                reply = handler(call)
        except HTTPError as failure:
            reply = failure.reply
        reply.headers = {**limits, **reply.headers}
        return reply

    def _unimplemented(self, method: str, path: str) -> None:
        """A real GitHub operation the stand-in lacks is a gap in the test, not a 404 to trust:
        it is recorded with the violations, so the fixture fails loudly."""
        template = self.spec.template(method, path)
        if template is not None:
            with self.lock:
                self.violations.append(f"{method} {template}: GitHub has it, the stand-in does not implement it")

    def _authenticate(self, headers: Mapping[str, str]) -> Token:
        """The token of an `Authorization: token X` or `Bearer X` header (401 otherwise)."""
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not value:
            raise HTTPError(401, "Requires authentication")
        token = self.world.tokens.get(value.strip())
        if token is None:
            raise HTTPError(401, "Bad credentials")
        return token

    def _count(self, token: Token, path: str) -> dict[str, str]:
        """Spend one request of the token's hourly budget (GET /rate_limit is free, as on GitHub)."""
        with self.lock:
            used = self._used.get(token.value, 0) + (path != "/rate_limit")
            self._used[token.value] = used
        headers = {
            "x-ratelimit-limit": str(RATE_LIMIT),
            "x-ratelimit-remaining": str(max(RATE_LIMIT - used, 0)),
            "x-ratelimit-used": str(used),
            "x-ratelimit-reset": str(self._reset),
            "x-ratelimit-resource": "core",
        }
        if token.kind != "app":
            headers["x-oauth-scopes"] = token.scopes
        return headers

    def _validated(self, method: str, path: str, reply: Reply) -> Reply:
        """The reply itself when it conforms to the spec, else a recorded violation and HTTP 599."""
        with self.lock:
            if self._tampers and 200 <= reply.status < 300 and reply.body is not None:
                reply.body = self._tampers.pop(0)(reply.body)
        problem = self.spec.violation(method, path, reply.status, reply.body)
        if problem is None:
            return reply
        with self.lock:
            self.violations.append(problem)
        return Reply(VIOLATION, {"message": f"stand-in response breaks GitHub's spec: {problem}"})

    # -- life cycle -------------------------------------------------------------------------

    def __enter__(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.close_connections()  # idle keep-alive connections would hold the join
        self._server.server_close()  # joins the handler threads
        self._thread.join()


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close; their connections are shut first, so that is quick.
    daemon_threads = False
    block_on_close = True
    stand_in: GitHubStandIn

    def server_activate(self) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):  # the client may have closed it already
                    connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as PyGithub's session expects
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle's algorithm and the
        # client's delayed ACK hold every answer ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        raw = self.rfile.read(int(headers.get("content-length") or 0))
        self._send(self.server.stand_in.answer(self.command, self.path, raw, headers))

    def _send(self, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            if reply.body is not None:
                self.send_header("content-type", "application/json; charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.send_header("x-github-media-type", "github.v3; format=json")
            self.send_header("x-github-api-version-selected", "2022-11-28")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True  # the client gave up before the answer
