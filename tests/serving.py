"""A test's own HTTP server on 127.0.0.1 (a service, a misbehaving gateway), served from a daemon thread
for the length of a `with` block."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LocalServer(ThreadingHTTPServer):
    """Started on entering the block, stopped at once on leaving it (serve_forever polls every 0.02 s, not
    every 0.5 s). A client that hangs up is routine in these tests, not an error: no traceback is printed
    for it, which also matters because Python 3.11's traceback parses source with `ast`, and two threads
    parsing at once fail ("AST constructor recursion depth mismatch") in a test running beside it."""

    daemon_threads = True
    request_queue_size = 256  # a run sends many requests at once: none refused by the backlog

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
