"""A local stand-in for the W&B GraphQL API, so the real `wandb` SDK can be tested offline.

wandb 0.31 sends every request through its `wandb-core` helper as `POST /graphql`. The
stand-in answers the operations a reader and `run.update()` send, from in-memory runs:

    with WandbStandIn() as server:
        server.add_run("team", "proj", "abc123", [{"_step": 0, "train/loss": 2.3}])
        api = wandb.Api(overrides={"base_url": server.base_url}, api_key=KEY)

History pages follow the real backend (see wandb PR #12010): `sampledHistory` specs carry
an inclusive `minStep`/`maxStep`, rows are those holding *all* the requested keys, and a
page with more rows than `samples` is downsampled. `parquetHistory` reports no parquet
files and every step as live data, so the SDK reads everything through `sampledHistory`.
NaN and infinities go out as the strings "NaN", "Infinity", "-Infinity", as W&B sends them.

Every request is recorded (operation, variables, history rows returned); faults can be
injected per operation: `Slow`, `Status` (429 with retry-after, 500, ...), `Close`, and
`stop()` makes the port refuse connections.
"""

from __future__ import annotations

import base64
import bisect
import contextlib
import json
import math
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

GRAPHQL_PATH = "/graphql"
_OPERATION = re.compile(r"\b(?:query|mutation)\s+(\w+)")


@dataclass(frozen=True)
class Slow:
    """Wait `seconds` (cut short when the server stops), then answer normally."""

    seconds: float


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status (and a `retry-after` header when given)."""

    code: int
    retry_after: float | None = None
    message: str = "stand-in error"


@dataclass(frozen=True)
class Close:
    """Close the connection without answering."""


Fault = Slow | Status | Close


@dataclass
class _Injected:
    fault: Fault
    operation: str | None
    remaining: int | None  # None: every matching request


@dataclass(frozen=True)
class Recorded:
    """One request: its GraphQL operation, variables, answer status and history rows sent."""

    operation: str
    variables: Mapping[str, Any]
    status: int
    rows: int = 0


@dataclass
class StandInRun:
    """One run as the stand-in keeps it; `notes`, `tags` and `summary` show what was written."""

    entity: str
    project: str
    run_id: str
    storage_id: str
    state: str
    heartbeat: str
    created_at: str
    config: dict[str, Any]
    notes: str | None = None
    tags: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # written by the SDK
    rows: list[dict[str, Any]] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)  # sorted, parallel to rows
    last: dict[str, Any] = field(default_factory=dict)  # each key's latest value
    type_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows (steps increasing); `_step`, `_runtime`, `_timestamp` filled in if absent."""
        for given in rows:
            row = dict(given)
            row.setdefault("_step", self.steps[-1] + 1 if self.steps else 0)
            row.setdefault("_runtime", float(row["_step"]))
            row.setdefault("_timestamp", 1.7e9 + row["_step"])
            if self.steps and row["_step"] <= self.steps[-1]:
                raise ValueError(f"step {row['_step']} is not after {self.steps[-1]}")
            self.rows.append(row)
            self.steps.append(int(row["_step"]))
            self.last.update(row)
            for key, value in row.items():
                counts = self.type_counts.setdefault(key, {})
                counts[_type_name(value)] = counts.get(_type_name(value), 0) + 1

    def history_keys(self) -> dict[str, Any]:
        """The run's `historyKeys` JSON: the last step and each key's type counts."""
        keys = {
            key: {"typeCounts": [{"type": kind, "count": n} for kind, n in counts.items()]}
            for key, counts in self.type_counts.items()
        }
        return {"lastStep": self.steps[-1] if self.steps else -1, "keys": keys}

    def fragment(self) -> dict[str, Any]:
        """The `RunFragment` fields the SDK asks for."""
        summary = self.last | self.summary
        return {
            "id": self.storage_id,
            "projectId": "1",
            "name": self.run_id,
            "displayName": self.run_id,
            "tags": list(self.tags),
            "notes": self.notes,
            "state": self.state,
            "heartbeatAt": self.heartbeat,
            "createdAt": self.created_at,
            "config": json.dumps({k: {"value": v, "desc": None} for k, v in self.config.items()}),
            "summaryMetrics": json.dumps(_wire(summary)),
            "systemMetrics": "{}",
            "historyKeys": self.history_keys(),
            "historyLineCount": len(self.rows),
            "user": {"name": self.entity, "username": self.entity},
            **dict.fromkeys(("sweepName", "group", "jobType", "commit", "description")),
            "readOnly": False,
        }

    def sampled(self, spec: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rows in [minStep, maxStep] holding every key, downsampled to `samples` rows."""
        keys = list(dict.fromkeys(spec["keys"]))
        low = bisect.bisect_left(self.steps, int(spec.get("minStep", 0)))
        high = bisect.bisect_right(self.steps, int(spec.get("maxStep", 2**62)))
        rows = [
            {key: row[key] for key in keys}
            for row in self.rows[low:high]
            if all(row.get(key) is not None for key in keys)
        ]
        samples = int(spec.get("samples", 500))
        if len(rows) > samples > 1:  # the backend keeps the ends and thins the middle
            rows = [rows[round(i * (len(rows) - 1) / (samples - 1))] for i in range(samples)]
        return rows


def iso_time(epoch: float) -> str:
    """W&B's timestamp format: UTC, seconds, no zone suffix."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"  # NaN and infinities included
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return str(value.get("_type", "map"))
    return "nil" if value is None else "list"


def _wire(value: Any) -> Any:
    """`value` with non-finite floats spelled the way W&B sends them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # handler threads are joined on close; sleeps are interruptible
    stand_in: WandbStandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as wandb-core's Go client expects
    timeout = 5

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.stand_in.track(self.connection, open=True)

    def finish(self) -> None:
        self.server.stand_in.track(self.connection, open=False)
        super().finish()

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length", "0") or 0))
        if self.path != GRAPHQL_PATH:
            self._send(404, {"errors": [{"message": "no such path"}]})
            return
        body = json.loads(raw)
        operation = body.get("operationName") or _operation(body.get("query", ""))
        variables = body.get("variables") or {}
        stand_in = self.server.stand_in
        fault = stand_in.take_fault(operation)
        if isinstance(fault, Slow) and stand_in.stopping.wait(fault.seconds):
            return  # shutting down: the client has gone
        if isinstance(fault, Close):
            stand_in.record(Recorded(operation, variables, 0))
            self.close_connection = True
            return
        if isinstance(fault, Status):
            stand_in.record(Recorded(operation, variables, fault.code))
            after = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
            self._send(fault.code, {"errors": [{"message": fault.message}]}, after)
            return
        if not stand_in.authorized(self.headers.get("authorization", "")):
            stand_in.record(Recorded(operation, variables, 401))
            self._send(401, {"errors": [{"message": "invalid API key"}]})
            return
        data, rows = stand_in.answer(operation, variables)
        stand_in.record(Recorded(operation, variables, 200, rows))
        self._send(200, data)

    def _send(self, code: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(_wire(payload), allow_nan=False).encode()
        try:
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up before we answered


def _operation(query: str) -> str:
    match = _OPERATION.search(query)
    return match.group(1) if match else "?"


class WandbStandIn:
    """The stand-in server; use it as a context manager. `api_key` None accepts any key."""

    def __init__(self, api_key: str | None = None, viewer: str = "me") -> None:
        self.api_key = api_key
        self.viewer = viewer
        self.requests: list[Recorded] = []
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()  # open keep-alive connections, closed on stop
        self._runs: dict[tuple[str, str, str], StandInRun] = {}
        self._faults: list[_Injected] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="wandb-stand-in"
        )
        self._stopped = False

    @property
    def base_url(self) -> str:
        """The URL to give `wandb.Api` as `base_url`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- runs -------------------------------------------------------------------------

    def add_run(
        self,
        entity: str,
        project: str,
        run_id: str,
        rows: Iterable[Mapping[str, Any]] = (),
        *,
        state: str = "running",
        heartbeat: float | None = None,
        created_at: float | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> StandInRun:
        """A new run; `heartbeat`/`created_at` are epoch seconds (default: now)."""
        now = time.time()
        with self._lock:
            run = StandInRun(
                entity,
                project,
                run_id,
                base64.b64encode(f"Run:v1:{run_id}:{project}:{entity}".encode()).decode(),
                state,
                iso_time(now if heartbeat is None else heartbeat),
                iso_time(now if created_at is None else created_at),
                dict(config or {}),
            )
            run.add(rows)
            self._runs[(entity, project, run_id)] = run
        return run

    def append_rows(self, entity: str, project: str, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Log more rows to a run; its heartbeat moves to now, as a live run's does."""
        with self._lock:
            run = self._runs[(entity, project, run_id)]
            run.add(rows)
            run.heartbeat = iso_time(time.time())

    def set_state(self, entity: str, project: str, run_id: str, state: str, heartbeat: float | None = None) -> None:
        """Change a run's state ("finished", "crashed", ...) and optionally its heartbeat."""
        with self._lock:
            run = self._runs[(entity, project, run_id)]
            run.state = state
            if heartbeat is not None:
                run.heartbeat = iso_time(heartbeat)

    def run(self, entity: str, project: str, run_id: str) -> StandInRun:
        """The stored run (to look at what the SDK wrote)."""
        with self._lock:
            return self._runs[(entity, project, run_id)]

    # --- faults and records -----------------------------------------------------------

    def inject(self, fault: Fault, operation: str | None = None, times: int | None = None) -> None:
        """Apply `fault` to the next `times` requests (all when None) of `operation` (any when None)."""
        with self._lock:
            self._faults.append(_Injected(fault, operation, times))

    def clear_faults(self) -> None:
        """Answer normally again."""
        with self._lock:
            self._faults.clear()

    def take_fault(self, operation: str) -> Fault | None:
        """The fault for this request, if one applies (used by the handler)."""
        with self._lock:
            for injected in self._faults:
                if injected.operation in (None, operation):
                    if injected.remaining is not None:
                        injected.remaining -= 1
                        if injected.remaining <= 0:
                            self._faults.remove(injected)
                    return injected.fault
        return None

    def track(self, connection: socket.socket, open: bool) -> None:
        """Note a connection opening or closing (used by the handler)."""
        with self._lock:
            (self.connections.add if open else self.connections.discard)(connection)

    def record(self, request: Recorded) -> None:
        """Keep `request` in `requests`."""
        with self._lock:
            self.requests.append(request)

    def reset_records(self) -> None:
        """Forget the recorded requests (e.g. between two fetches)."""
        with self._lock:
            self.requests.clear()

    def count(self, operation: str | None = None) -> int:
        """How many requests (of `operation`) were received."""
        with self._lock:
            return sum(1 for r in self.requests if operation in (None, r.operation))

    def rows_returned(self) -> int:
        """How many history rows were sent in all."""
        with self._lock:
            return sum(r.rows for r in self.requests)

    def authorized(self, header: str) -> bool:
        """Whether the `Authorization: Basic api:KEY` header carries the expected key."""
        if self.api_key is None:
            return True
        expected = base64.b64encode(f"api:{self.api_key}".encode()).decode()
        return header == f"Basic {expected}"

    # --- GraphQL ----------------------------------------------------------------------

    def answer(self, operation: str, variables: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """The GraphQL response body for one operation, and the history rows in it."""
        with self._lock:
            if operation in ("Viewer", "GetDefaultEntity"):
                viewer = {"id": "VXNlcjox", "entity": self.viewer, "username": self.viewer}
                extra = {"email": "", "flags": "{}", "teams": {"edges": []}}
                return {"data": {"viewer": viewer | (extra if operation == "Viewer" else {})}}, 0
            if operation == "UpsertBucket":
                return self._upsert(variables), 0
            name = variables.get("name") or variables.get("runName") or variables.get("run")
            run = self._runs.get((variables.get("entity"), variables.get("project"), name))
            if operation not in _RUN_FIELDS:
                return {"data": None, "errors": [{"message": f"stand-in: unknown {operation}"}]}, 0
            if run is None:
                known = any(k[:2] == (variables.get("entity"), variables.get("project")) for k in self._runs)
                return {"data": {"project": {"run": None} if known else None}}, 0
            value, rows = _RUN_FIELDS[operation](run, variables)
            return {"data": {"project": {"run": value}}}, rows

    def _upsert(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        run = next((r for r in self._runs.values() if r.storage_id == variables.get("id")), None)
        if run is None:
            return {"data": None, "errors": [{"message": "run not found"}]}
        if "summaryMetrics" in variables:
            run.summary = json.loads(variables["summaryMetrics"])
            return {"data": {"upsertBucket": {"bucket": {"id": run.storage_id}}}}
        run.notes = variables.get("notes")
        run.tags = list(variables.get("tags") or [])
        return {"data": {"upsertBucket": {"bucket": run.fragment(), "inserted": False}}}

    def stop(self) -> None:
        """Stop listening: from now on connections are refused (an unreachable W&B)."""
        if not self._stopped:
            self._stopped = True
            self.stopping.set()
            self._server.shutdown()
            with self._lock:
                connections = list(self.connections)
            for connection in connections:  # wandb-core keeps connections alive: end them
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._server.server_close()  # joins the handler threads
            self._thread.join()

    def __enter__(self) -> WandbStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _parquet(run: StandInRun, variables: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    # No exported parquet files: every step is live, so the SDK pages through sampledHistory.
    return {"parquetHistory": {"parquetUrls": [], "liveData": [{"_step": s} for s in run.steps]}}, 0


def _sampled(run: StandInRun, variables: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    rows = run.sampled(json.loads(variables["spec"]))
    return {"sampledHistory": [rows]}, len(rows)


_RUN_FIELDS = {
    "Run": lambda run, _: (run.fragment(), 0),
    "RunState": lambda run, _: ({"state": run.state}, 0),
    "RunHistoryKeys": lambda run, _: ({"historyKeys": run.history_keys()}, 0),
    "RunParquetHistory": _parquet,
    "SampledHistoryPage": _sampled,
}
