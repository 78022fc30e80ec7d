"""A fake OpenAI-compatible server on 127.0.0.1, for tests, benchmarks and users' own pipelines.

It answers chat completions the way resummarize's prompts expect (the digest fields, in the language the
prompt asks for) and misbehaves on demand -- faults, rate limits, structured-output modes a provider
rejects -- so retry and validation code can be exercised with no network and no key.

    with FakeProvider(rpm=60, faults=FaultPlan.sequence(["http_500"])) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import socket
import socketserver
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from resummarize.errors import UsageError
from resummarize.testing.answers import (
    Answerer,
    FakeOutcome,
    Reply,
    RequestRecord,
    json_reply,
    read_ask,
    redact_headers,
    retry_headers,
    sse,
)
from resummarize.testing.batches import BatchSettings, BatchStore
from resummarize.testing.faults import RECOVERABLE, Fault, FaultPlan, error_body
from resummarize.testing.limits import Limits

__all__ = ["RECOVERABLE", "FakeProvider", "Fault", "FaultPlan", "RequestRecord"]

#: Structured-output modes a provider may reject (`reject_modes`).
MODES = frozenset({"json_schema", "json_object", "tools"})
_BAD_BODY = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, provider: FakeProvider, port: int = 0) -> None:
        self.provider = provider
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.idle = threading.Condition()
        super().__init__(("127.0.0.1", port), _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup: the fake never talks beyond 127.0.0.1."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.socket.getsockname()[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-answer are routine here (timeouts, resets); anything else is a bug."""
        if not isinstance(sys.exc_info()[1], OSError | ValueError):
            super().handle_error(request, client_address)

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self.idle:
            (self.connections.add if add else self.connections.discard)(connection)
            self.idle.notify_all()

    def drop_connections(self, wait: float) -> None:
        """Wake handlers blocked on idle keep-alive connections and let them close their sockets."""
        with self.idle:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self.idle.wait_for(lambda: not self.connections, timeout=wait)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every reply carries Content-Length
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't wait 40 ms for an ACK
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: callers read `FakeProvider.requests`, not stderr."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        headers = {key.lower(): value for key, value in self.headers.items()}
        try:
            reply = self.server.provider._handle(method, self.path, headers, self._body())
        except OSError:
            raise
        except Exception as exc:  # a bug in the fake must reach the client, not vanish with the thread
            reply = json_reply(500, error_body(f"fake provider failure: {exc!r}", "server_error", None))
            self.close_connection = True
        if reply.action == "reset":
            self._reset()
        elif reply.action == "hold":
            self.server.stopping.wait(self.server.provider.timeout_hold)
            self.close_connection = True
        else:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.delay > 0 or reply.gate is not None:
                self.wfile.flush()
                while reply.gate is not None and not self.server.stopping.is_set():
                    if reply.gate.wait(0.02):
                        break
                self.server.stopping.wait(reply.delay)
            self.wfile.write(reply.body)

    def _body(self) -> bytes:
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the kernel sends RST, the client sees a connection reset."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.rfile.close()
        self.wfile.close()
        self.connection.close()
        self.wfile = io.BytesIO()  # the base class flushes wfile after every request


class FakeProvider:
    """An OpenAI-compatible chat/files/batches server on 127.0.0.1 with scripted misbehaviour.

    A chat request is checked in the order a provider would: key (401), limits (429), model (404),
    rejected mode (400); only then is the fault plan consulted, so refused requests do not use up
    planned faults. Batch lines consult the same plan, without limits or latency.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        max_concurrency: int | None = None,
        when_busy: str = "retry-after",
        rpm: int | None = None,
        api_key: str = "sk-test",
        models: Iterable[str] = ("gpt-4o-mini",),
        faults: FaultPlan | None = None,
        answers: Mapping[str, Mapping[str, str]] | None = None,
        reject_modes: Iterable[str] = (),
        batch_delay: float = 0.0,
        batch_outcome: str = "completed",
        batch: BatchSettings | None = None,
        timeout_hold: float = 30.0,
        gate: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        rejected = frozenset(reject_modes)
        if not rejected <= MODES:
            raise UsageError(f"reject_modes must be a subset of {sorted(MODES)}, not {sorted(rejected)}")
        batch = batch or BatchSettings(delay=batch_delay, outcome=batch_outcome)
        self.api_key = api_key
        self.models = tuple(models)
        self.latency = latency
        self.timeout_hold = timeout_hold
        #: While set to an unset Event, admitted chat requests wait for it: tests hold N requests in flight.
        self.gate = gate
        #: The rpm window's clock (`clock`): a test that pins it gets exact `x-ratelimit-*` and Retry-After.
        self.limits = Limits(max_concurrency, when_busy, rpm, latency, clock)
        #: Sent with every chat answer (a provider's own `x-ratelimit-*` story, say).
        self.extra_headers = dict(extra_headers or {})
        answers = {paper: dict(fields) for paper, fields in (answers or {}).items()}
        self._answerer = Answerer(frozenset(self.models), answers, rejected, faults)
        self._store = BatchStore(self._answer_line, batch)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0  # kept across stop() and start()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeProvider:
        """Start serving on a free port (idempotent); after `stop()`, on the same port (an outage ends)."""
        if self._server is None:
            self._server = _Server(self, self._port)
            self._port = self._server.server_port
            serve = functools.partial(self._server.serve_forever, poll_interval=0.02)
            self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, release held (`timeout`) requests and close open connections."""
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None or thread is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.drop_connections(wait=2.0)
        thread.join()

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise UsageError("FakeProvider is not running: use start() or a `with` block")
        return self._server.server_port

    @property
    def base_url(self) -> str:
        """What to pass as `base_url` to `openai.OpenAI`."""
        return f"http://127.0.0.1:{self.port}/v1"

    # --- observation ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, in the order the fake decided its answer."""
        with self._lock:
            return list(self._log)

    def count(self, path: str | None = None, *, status: int | None = None, fault: str | None = None) -> int:
        """How many logged requests match all the given filters."""
        return sum(
            1
            for r in self.requests
            if (path is None or r.path == path)
            and (status is None or r.status == status)
            and (fault is None or r.fault == fault)
        )

    @property
    def in_flight(self) -> int:
        """Chat requests admitted and not yet answered."""
        return self.limits.in_flight

    @property
    def max_in_flight(self) -> int:
        """Peak number of chat requests admitted at once (those refused with a 429 do not count)."""
        return self.limits.peak

    @property
    def max_open(self) -> int:
        """Peak number of chat requests open at once, waiting in line (`when_busy="queue"`) or served:
        how many the client had in flight, as the server saw it."""
        return self.limits.peak_open

    @property
    def batches(self) -> int:
        """How many batches were created."""
        return self._store.created

    def reset_log(self) -> None:
        """Forget logged requests and the concurrency peak (limits and fault plans carry on)."""
        with self._lock:
            self._log.clear()
        self.limits.reset_peaks()

    # --- serving --------------------------------------------------------------------------------

    def _handle(self, method: str, path: str, headers: Mapping[str, str], raw: bytes) -> Reply:
        """Route one request and log it: every request passes through here exactly once."""
        arrival = time.time()
        route = path.split("?", 1)[0].rstrip("/")
        auth_ok = headers.get("authorization") == f"Bearer {self.api_key}"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        outcome: FakeOutcome | None = None
        if not auth_ok:
            message = "Incorrect API key provided"
            reply = json_reply(401, error_body(message, "invalid_request_error", "invalid_api_key"))
        elif (method, route) == ("POST", "/v1/chat/completions"):
            reply, outcome = self._chat(body)
        elif (method, route) == ("GET", "/v1/models"):
            models = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
            reply = json_reply(200, {"object": "list", "data": models})
        elif served := self._store.handle(method, path, headers, raw):
            reply = served
        else:
            message = f"Invalid URL ({method} {route})"
            reply = json_reply(404, error_body(message, "invalid_request_error", None))
        ask = outcome.ask if outcome else None
        record = RequestRecord(
            time=arrival,
            method=method,
            path=route,
            headers=redact_headers(headers),
            body=body,
            auth_ok=auth_ok,
            paper_id=ask.paper_id if ask else None,
            mode=ask.mode if ask else None,
            status=reply.status if reply.action == "send" else 0,
            fault=outcome.fault if outcome else None,
        )
        with self._lock:
            self._log.append(record)
        return reply

    def _chat(self, body: Any) -> tuple[Reply, FakeOutcome | None]:
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return json_reply(400, error_body(message, "invalid_request_error", None)), None
        ask = read_ask(body)
        with self.limits.opened():
            return self._admitted(body, ask)

    def _admitted(self, body: dict[str, Any], ask: Any) -> tuple[Reply, FakeOutcome | None]:
        admitted, headers = self.limits.admit(self._server.stopping if self._server else None)
        headers.update(self.extra_headers)
        if not admitted and self.limits.when_busy == "503":
            error = error_body("The server is overloaded.", "server_error", None)
            return json_reply(503, error), FakeOutcome(503, error, ask)
        if not admitted:
            message = "Rate limit reached for requests. Please try again later."
            error = error_body(message, "requests", "rate_limit_exceeded")
            return json_reply(429, error, headers), FakeOutcome(429, error, ask)
        try:
            outcome = self._answerer.answer(body, ask, next(self._numbers))
            if outcome.fault in (Fault.TIMEOUT, Fault.RESET):
                return Reply(0, action="hold" if outcome.fault is Fault.TIMEOUT else "reset"), outcome
            if outcome.fault is Fault.BAD_BODY:
                return Reply(200, _BAD_BODY, {"content-type": "application/json"}), outcome
            if outcome.fault is Fault.HTTP_429:
                headers.update(retry_headers(1.0))
            server = self._server
            if outcome.status == 200 and body.get("stream") is True and isinstance(outcome.body, dict):
                # Streamed: the headers go out at once, the answer after the gate and the latency. The
                # slot is given back when the headers go (a simplification: only a probe streams).
                return Reply(200, sse(outcome.body, body), {"content-type": "text/event-stream", **headers},
                              delay=self.latency, gate=self.gate), outcome
            while self.gate is not None and server is not None and not server.stopping.is_set():
                if self.gate.wait(0.02):
                    break
            if outcome.status == 200 and self.latency > 0 and server is not None:
                server.stopping.wait(self.latency)
            return json_reply(outcome.status, outcome.body, headers), outcome
        finally:
            self.limits.release()

    def _answer_line(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A batch line: the chat logic without HTTP, limits or latency."""
        outcome = self._answerer.answer(body, read_ask(body), next(self._numbers))
        return outcome.status, outcome.body
