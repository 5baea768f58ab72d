"""A local stand-in for the OpenAI API, so the real `openai` client can be tested offline.

It listens on 127.0.0.1 (a free port), serves `POST /v1/responses` and
`POST /v1/chat/completions` from a background thread, records every request, and answers
from a queue of behaviours:

    with OpenAIStandIn() as api:
        api.queue(Reply('{"decision": "STOP", "reason": "diverged"}'), Status(429))
        client = OpenAI(base_url=api.base_url, api_key="sk-test", max_retries=0)

With the queue empty it answers HTTP 500, so a test that forgot a behaviour fails loudly.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

RESPONSES_PATH = "/v1/responses"
CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class Reply:
    """A successful answer whose output text (or message content) is `text`."""

    text: str


@dataclass(frozen=True)
class Status:
    """An answer with this status code, JSON body and extra headers (e.g. `retry-after`)."""

    code: int
    body: str = '{"error": {"message": "stand-in error", "type": "server_error"}}'
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sleep:
    """Wait `seconds` (cut short when the server stops), then behave as `then`."""

    seconds: float
    then: Behaviour = Reply('{"decision": "WAIT", "reason": "late"}')


@dataclass(frozen=True)
class Malformed:
    """HTTP 200, `application/json`, and a body that is not JSON."""

    body: str = '{"id": "resp_1", "output": ['


@dataclass(frozen=True)
class Close:
    """Close the connection without answering."""


Behaviour = Reply | Status | Sleep | Malformed | Close


@dataclass(frozen=True)
class Recorded:
    """One request as received: headers with lower-case names, the body parsed as JSON."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Any  # the parsed JSON, or the raw text when it was not JSON


def responses_body(text: str, model: str) -> dict[str, Any]:
    """A completed Responses API object whose `output_text` is `text`."""
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "status": "completed",
        "model": model,
        "output": [
            {
                "type": "message",
                "id": "msg_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": 1,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 1,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 2,
        },
    }


def chat_body(text: str, model: str) -> dict[str, Any]:
    """A Chat Completions object whose first message content is `text`."""
    return {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": text, "refusal": None},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class _Server(ThreadingHTTPServer):
    # Handler threads are joined on close (the sleeps are interruptible), so nothing
    # outlives the `with` block.
    daemon_threads = False
    block_on_close = True
    stand_in: OpenAIStandIn


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5  # a stuck client cannot hold the shutdown for long

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_POST(self) -> None:
        stand_in = self.server.stand_in
        body = self._read_body()
        stand_in.record(Recorded("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        if self.path not in (RESPONSES_PATH, CHAT_PATH):
            self._send(404, '{"error": {"message": "no such path"}}')
            return
        model = body.get("model", "") if isinstance(body, dict) else ""
        self._behave(stand_in.next_behaviour(), str(model))

    def _read_body(self) -> Any:
        raw = self.rfile.read(int(self.headers.get("content-length", "0") or 0)).decode("utf-8", "replace")
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def _behave(self, behaviour: Behaviour, model: str) -> None:
        if isinstance(behaviour, Sleep):
            if self.server.stand_in.stopping.wait(behaviour.seconds):
                return  # shutting down: the client has long gone
            self._behave(behaviour.then, model)
        elif isinstance(behaviour, Reply):
            make = chat_body if self.path == CHAT_PATH else responses_body
            self._send(200, json.dumps(make(behaviour.text, model)))
        elif isinstance(behaviour, Status):
            self._send(behaviour.code, behaviour.body, behaviour.headers)
        elif isinstance(behaviour, Malformed):
            self._send(200, behaviour.body)
        else:
            self.close_connection = True  # Close: say nothing at all

    def _send(self, code: int, body: str, headers: Mapping[str, str] | None = None) -> None:
        data = body.encode()
        try:
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (timed out) before we answered


class OpenAIStandIn:
    """The stand-in server; use it as a context manager."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.stopping = threading.Event()
        self._behaviours: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stand_in = self
        # A short poll interval: `shutdown` waits for the serve loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="openai-stand-in"
        )

    @property
    def base_url(self) -> str:
        """The URL to give the client as `base_url`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these behaviours, in order."""
        with self._lock:
            self._behaviours.extend(behaviours)

    def reset(self) -> None:
        """Forget the recorded requests and the queued behaviours (to reuse one server)."""
        with self._lock:
            self.requests.clear()
            self._behaviours.clear()

    def next_behaviour(self) -> Behaviour:
        """The behaviour for the request being served (HTTP 500 when none is queued)."""
        with self._lock:
            if self._behaviours:
                return self._behaviours.popleft()
        return Status(500, '{"error": {"message": "no behaviour queued in the stand-in"}}')

    def record(self, request: Recorded) -> None:
        """Keep `request` in `requests`."""
        with self._lock:
            self.requests.append(request)

    @property
    def last(self) -> Recorded:
        """The most recent request."""
        with self._lock:
            return self.requests[-1]

    def __enter__(self) -> OpenAIStandIn:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()  # joins the handler threads
        self._thread.join()
