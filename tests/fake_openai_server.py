"""A fake OpenAI-compatible server on a real loopback socket, for the fault tests.

`FakeOpenAIServer` listens on 127.0.0.1 (port 0: the OS picks a free one) and serves
`POST /v1/chat/completions`. Each request takes the next behaviour from its script (a queue);
when the script is empty, `responder(body)` decides (by default: a valid answer). Behaviours:

    ("ok",)                      a valid answer for the task asked (item_fields)
    ("ok", content_dict)         a chat completion whose message content is this JSON
    ("status", code, headers)    an HTTP error (429, 500, 502, 503, ...) with these headers;
    ("status", code, headers, body)  ... and this JSON body (e.g. one that carries `usage`)
    ("hang", seconds)            say nothing for that long (or until the server stops), then hang up
    ("reset_mid_body",)          headers and half the body, then a TCP reset (SO_LINGER 0)
    ("truncated_body",)          Content-Length of the full body, half of it sent, then the socket closed
    ("truncated_json",)          a 200 chat completion whose message content is cut-off JSON
    ("invalid_schema",)          a 200 chat completion whose content is JSON that fails the response model
    ("empty_choices",)           a 200 chat completion with `choices: []`
    ("refusal",)                 content null, `refusal` set, finish_reason "stop"
    ("ungrounded",)              a well-formed answer whose quotes/service are not in the letter

Every 200 chat completion carries `usage` (PROMPT_TOKENS, COMPLETION_TOKENS); error bodies carry
what the script gives them. `prompt_tokens_served` / `completion_tokens_served` add up the usage of
every response that was sent whole (a body cut short or reset never reaches the client). Every
request is recorded in memory (body, lower-cased headers, behaviour, task) so tests can count
attempts; nothing is logged or printed (bodies hold letter text).

The `fake_openai` fixture starts one server per test and lets connections to it (and only to
it) through the test suite's offline guard (tests/conftest.py `_block_network`).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import pytest

PROMPT_TOKENS = 100
COMPLETION_TOKENS = 10
REASK_PREFIX = "Correct your JSON"  # instructor's re-ask message (JSON mode)


@dataclass
class Recorded:
    path: str
    body: dict
    headers: dict[str, str]
    behaviour: tuple
    task: str
    started: float = 0.0  # time.monotonic() when the request arrived
    finished: float = 0.0  # ... and when its answer was sent

    @property
    def text(self) -> str:
        """All message text of the request (for routing and for "was this sent" checks)."""
        return "\n".join(str(m.get("content") or "") for m in self.body.get("messages", []))


# -- answers ------------------------------------------------------------------------------------

def task_of(body: dict) -> str:
    """Which enricher task a request body is: item_fields, or "other"."""
    return "item_fields" if _FIELDS.match(asked_text(body)) else "other"


_FIELDS = re.compile(r"\s*Request 1: ")


def fields_items(text: str) -> list[tuple[str, str]]:
    """The (request, rationale) pairs of an item_fields message ("Request k: ...", "Rationale k: ...")."""
    pairs = []
    for part in re.split(r"(?m)^\s*Request \d+: ", text)[1:]:
        request, _, rationale = part.partition("\nRationale ")
        pairs.append((request.strip(), rationale.partition(": ")[2].strip()))
    return pairs


def _reasons(rationale: str, quote_words: int = 8) -> dict:
    negative = "not medically necessary" in rationale.lower()
    return {"conclusion": "not medically necessary" if negative else "medically necessary",
            "reasons": [{"point": "A reason.", "quote": " ".join(rationale.split()[:quote_words])}],
            "missing_documentation": []}


def asked_text(body: dict) -> str:
    """The task's own user message (not a few-shot example, not a re-ask)."""
    users = [str(m.get("content") or "") for m in body.get("messages", []) if m.get("role") == "user"]
    users = [u for u in users if not u.startswith(REASK_PREFIX)]
    return users[-1] if users else ""


def valid_answer(body: dict) -> dict:
    """An answer that passes the response model and its grounding validators."""
    text = asked_text(body)
    return {"items": [{**_request(request), **_reasons(rationale)} for request, rationale in fields_items(text)]}


def _request(heading: str) -> dict:
    """The heading's first treatment word as the service (past "Associated surgical service:")."""
    return {"service": re.sub(r"(?i)^associated surgical services?:\s*", "", heading).split()[0].lower(), "category": "Therapies", "subcategory": None, "body_regions": [],
            "laterality": None, "quantity": None}


def ungrounded_answer(body: dict) -> dict:
    """Well-formed, but quoting words that are in no letter."""
    reasons = {"conclusion": "not medically necessary",
               "reasons": [{"point": "Invented.", "quote": "the reviewer examined the patient on the moon"}],
               "missing_documentation": []}
    request = {"service": "zero gravity flotation", "category": "Therapies", "subcategory": None, "body_regions": [],
               "laterality": None, "quantity": None}
    return {"items": [{**request, **reasons} for _ in fields_items(asked_text(body))]}


def invalid_answer(body: dict) -> dict:
    """JSON that fails the response model (wrong literal, missing/empty required fields)."""
    return {"items": [{"service": 42, "category": "Not a category", "conclusion": "maybe", "reasons": []}]}


def chat_completion(content: str | None, *, finish_reason: str = "stop", refusal: str | None = None,
                    choices: bool = True) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if refusal is not None:
        message["refusal"] = refusal
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "finish_reason": finish_reason, "message": message}] if choices else [],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}}


def default_responder(body: dict) -> tuple:
    return ("ok",)


# -- the server ---------------------------------------------------------------------------------

class FakeOpenAIServer:
    def __init__(self) -> None:
        self.script: deque[tuple] = deque()
        self.responder: Callable[[dict], tuple] = default_responder
        self.latency_s = 0.0  # every answer waits this long first (the concurrency tests and benchmarks)
        self.requests: list[Recorded] = []
        self.prompt_tokens_served = 0
        self.completion_tokens_served = 0
        self.connections = 0  # accepted and not yet closed (see wait_idle)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control ----------------------------------------------------------------------------

    def queue(self, *behaviours: tuple) -> "FakeOpenAIServer":
        self.script.extend(behaviours)
        return self

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The base URL to configure (…/v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Return once every request a client sent before this call is recorded and answered (or
        its connection gone): a probe connection is accepted after every connection queued
        before it (the accept queue is first in, first out, and `connections` is counted at
        accept), then the count of open connections is awaited down to zero. Used after a
        client was killed, whose last requests may still sit unread in the server's sockets."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as probe:
            probe.sendall(b"GET /idle HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while probe.recv(65536):
                pass
        deadline = time.monotonic() + timeout
        while self.connections and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not self.connections, f"{self.connections} connection(s) still open after {timeout} s"

    def count(self, task: str | None = None) -> int:
        return sum(1 for r in self.requests if task is None or r.task == task)

    def start(self) -> "FakeOpenAIServer":
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.fake = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()  # wakes every hanging handler
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- per request ----------------------------------------------------------------------------

    def _next(self, body: dict) -> tuple:
        with self._lock:
            if self.script:
                return self.script.popleft()
        return self.responder(body)

    def _record(self, path: str, body: dict, headers: dict, behaviour: tuple, started: float = 0.0) -> Recorded:
        record = Recorded(path, body, headers, behaviour, task_of(body), started)
        with self._lock:
            self.requests.append(record)
        return record

    def _served(self, payload: dict) -> None:
        usage = payload.get("usage") or {}
        with self._lock:
            self.prompt_tokens_served += usage.get("prompt_tokens", 0)
            self.completion_tokens_served += usage.get("completion_tokens", 0)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeOpenAIServer

    def process_request(self, request, client_address) -> None:  # in the accepting thread, in order
        with self.fake._lock:
            self.fake.connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:  # the handler thread, once the connection is done
        try:
            super().shutdown_request(request)
        finally:
            with self.fake._lock:
                self.fake.connections -= 1

    def handle_error(self, request, client_address) -> None:  # no tracebacks on stderr
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes: with Nagle's algorithm on, the second waits for the
    # client's delayed ACK (about 40 ms on Linux loopback) — real servers set TCP_NODELAY too
    disable_nagle_algorithm = True
    fake: FakeOpenAIServer

    def log_message(self, format: str, *args: Any) -> None:  # never log (bodies are letter text)
        pass

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass

    def do_POST(self) -> None:
        started = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        path = self.path.split("?")[0]
        if path != "/v1/chat/completions":
            self.fake._record(path, body, {k.lower(): v for k, v in self.headers.items()}, ("status", 404))
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        behaviour = self.fake._next(body)
        record = self.fake._record(path, body, {k.lower(): v for k, v in self.headers.items()}, behaviour, started)
        kind, args = behaviour[0], behaviour[1:]
        if self.fake.latency_s:
            self.fake._stop.wait(self.fake.latency_s)
        try:
            getattr(self, f"_do_{kind}")(body, *args)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        record.finished = time.monotonic()

    # -- behaviours ---------------------------------------------------------------------------

    def _do_ok(self, body: dict, content: dict | None = None) -> None:
        self._completion(chat_completion(json.dumps(content if content is not None else valid_answer(body))))

    def _do_status(self, body: dict, code: int, headers: dict | None = None, payload: dict | None = None) -> None:
        payload = payload if payload is not None else {
            "error": {"message": f"fake error {code}", "type": "server_error" if code >= 500 else "rate_limit_error"}}
        self.fake._served(payload)
        self._json(code, payload, headers or {})

    def _do_hang(self, body: dict, seconds: float) -> None:
        self.fake._stop.wait(seconds)  # released at once when the server stops
        self.close_connection = True  # then hang up without an answer

    def _do_reset_mid_body(self, body: dict) -> None:
        data = self._head_and_half(chat_completion(json.dumps(valid_answer(body))))
        self.wfile.write(data)
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # RST, not FIN
        self.close_connection = True

    def _do_truncated_body(self, body: dict) -> None:
        data = self._head_and_half(chat_completion(json.dumps(valid_answer(body))))
        self.wfile.write(data)
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_WR)  # FIN before Content-Length bytes arrived
        self.close_connection = True

    def _do_truncated_json(self, body: dict) -> None:
        text = json.dumps(valid_answer(body))
        self._completion(chat_completion(text[: len(text) // 2]))

    def _do_invalid_schema(self, body: dict) -> None:
        self._completion(chat_completion(json.dumps(invalid_answer(body))))

    def _do_empty_choices(self, body: dict) -> None:
        self._completion(chat_completion(None, choices=False))

    def _do_refusal(self, body: dict) -> None:
        self._completion(chat_completion(None, refusal="I can't help with that."))

    def _do_ungrounded(self, body: dict) -> None:
        self._completion(chat_completion(json.dumps(ungrounded_answer(body))))

    # -- plumbing -------------------------------------------------------------------------------

    def _completion(self, payload: dict) -> None:
        self.fake._served(payload)
        self._json(200, payload)

    def _json(self, code: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _head_and_half(self, payload: dict) -> bytes:
        data = json.dumps(payload).encode()
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode()
        return head + data[: len(data) // 2]


# -- the fixture ----------------------------------------------------------------------------------

@pytest.fixture
def fake_openai(_block_network, monkeypatch):
    """A running FakeOpenAIServer; connections to its port (only) pass the offline guard."""
    server = FakeOpenAIServer().start()
    guarded = socket.socket.connect  # conftest's offline guard, installed by _block_network
    real = _real_connect()
    allowed = ("127.0.0.1", server.port)

    def connect(self, address):
        if isinstance(address, tuple) and tuple(address[:2]) == allowed:
            return real(self, address)
        return guarded(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    try:
        yield server
    finally:
        server.stop()


def _real_connect():
    import conftest

    return conftest._REAL_CONNECT
