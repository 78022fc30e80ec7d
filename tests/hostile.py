"""A server on 127.0.0.1 in front of the fake provider that behaves the way real servers and gateways do:
refuses a mode with any status, ignores a mode, sends SSE keep-alive comments, trickles its body, answers
without end. Each test scripts it with a function from the request body to a `Behaviour`.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from serving import LocalServer

from resummarize.testing.answers import sse
from resummarize.testing.server import FakeProvider


@dataclass
class Behaviour:
    """How to answer one request; the default passes it on to the fake provider and its answer back."""

    #: Answer with this status and error message instead (a refusal).
    refuse: tuple[int, str] | None = None
    #: Forward without `response_format`/`tools`: the server ignores the mode it was asked for.
    ignore_mode: bool = False
    #: SSE comment lines (`: ping - <time>`) sent before the answer, and seconds between them.
    pings: int = 0
    ping_every: float = 0.0
    #: Seconds between single bytes of the answer (a body a byte at a time).
    trickle: float = 0.0
    #: Send this many bytes of an endless answer instead.
    endless: int = 0
    #: Answer 200 with this prose as the message content, whatever mode was asked for.
    prose: str | None = None
    #: Answer 200 with these bytes as they are (a recorded body).
    raw: bytes | None = None


@dataclass
class Seen:
    body: dict[str, Any]
    headers: dict[str, str]
    time: float = field(default_factory=time.monotonic)


class Hostile:
    def __init__(self, fake: FakeProvider, behave: Callable[[dict[str, Any]], Behaviour]) -> None:
        self.fake = fake
        self.behave = behave
        self.seen: list[Seen] = []
        self.sent_bytes = 0
        self._lock = threading.Lock()
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request a connection; a body without length ends at close

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw)
                with hostile._lock:
                    hostile.seen.append(Seen(body, {k.lower(): v for k, v in self.headers.items()}))
                hostile._serve(self, body)

        self._server = LocalServer(Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/v1"

    def __enter__(self) -> Hostile:
        self._server.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.__exit__()

    def _write(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(data)
        handler.wfile.flush()
        with self._lock:
            self.sent_bytes += len(data)

    def _serve(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        how = self.behave(body)
        try:
            if how.refuse is not None:
                status, message = how.refuse
                error = json.dumps({"error": {"message": message, "type": "internal_server_error", "param": None,
                                              "code": None}}).encode()
                handler.send_response(status)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(error)))
                handler.end_headers()
                self._write(handler, error)
                return
            streamed = body.get("stream") is True
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream" if streamed else "application/json")
            handler.end_headers()
            handler.wfile.flush()
            for _ in range(how.pings):
                self._write(handler, f": ping - {time.strftime('%Y-%m-%d %H:%M:%S')}\r\n\r\n".encode())
                time.sleep(how.ping_every)
            if how.endless:
                chunk = b'{"tldr": "' + b"a" * 65536
                while self.sent_bytes < how.endless:
                    self._write(handler, chunk)
                return
            if how.raw is not None:
                answer = how.raw
            elif how.prose is not None:
                completion = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": how.prose}}]}
                answer = sse(completion, body) if streamed else json.dumps(completion).encode()
            else:
                answer = self._forward(body, how.ignore_mode, handler.headers.get("Authorization", ""))
            if how.trickle:
                for byte in answer:
                    self._write(handler, bytes([byte]))
                    time.sleep(how.trickle)
            else:
                self._write(handler, answer)
        except OSError:
            pass  # the client gave up: routine here

    def _forward(self, body: dict[str, Any], ignore_mode: bool, auth: str) -> bytes:
        if ignore_mode:
            body = {k: v for k, v in body.items() if k not in ("response_format", "tools", "tool_choice")}
        request = urllib.request.Request(self.fake.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                         headers={"Authorization": auth, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            return bytes(exc.read())


LLAMA_CPP_REFUSAL = (500, "Input should be 'text' or 'json_object'")
