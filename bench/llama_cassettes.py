"""Re-record the llama.cpp cassettes in `cassettes/llama-cpp/` from a live llama-cpp-python server.

Never run in CI (it needs the server, which compiles llama.cpp). Start one, then run from the repo root:

    python -m llama_cpp.server --model SmolLM2-135M-Instruct.Q4_1.gguf --host 127.0.0.1 --port 8765
    python bench/llama_cassettes.py --base-url http://127.0.0.1:8765/v1

A recording proxy on 127.0.0.1 stands between resummarize and the server and keeps every exchange as
it went over the wire, refusals and keep-alive comments included (`--record` keeps only answers, since a
replayed 5xx would shadow them). It records:

- `repair.yaml`: `resummarize repair` with default options on the seed's first entries: the server's
  refusal of `json_schema` (HTTP 500) and the answers in the mode negotiation settles on;
- `keepalive.yaml`: a streamed request whose prompt takes the server more than 15 s to read: its body
  starts with `: ping - <time>` lines (one every 15 s).

The tests replay both (`tests/test_llama_cpp.py`); the proxy's log says how many requests the server got.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "cassettes" / "llama-cpp"
KEPT_HEADERS = ("content-type",)
#: Folders of the recording machine that the server's error messages name (its traceback's file).
_FOLDERS = re.compile(rb"/[^\s\"']*?/site-packages")


class Recorder:
    """A forwarding proxy that relays each response as it arrives (pings keep their timing) and keeps it."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.interactions: list[tuple[Request, dict[str, Any]]] = []
        #: Requests whose client hung up before the answer was complete (not kept).
        self.hung_up = 0
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                recorder.relay(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def relay(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(self.host, self.port, timeout=900)
        upstream.request("POST", handler.path, body, {"Content-Type": "application/json"})
        response = upstream.getresponse()
        handler.send_response(response.status)
        headers = {k.lower(): v for k, v in response.getheaders() if k.lower() in KEPT_HEADERS}
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        received = bytearray()
        try:
            while chunk := response.read1(65536):
                received += chunk
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except BrokenPipeError:  # the client gave up (its deadline): a replay could not reproduce that
            self.hung_up += 1
            return
        finally:
            upstream.close()
        received = bytearray(_FOLDERS.sub(rb"<site-packages>", bytes(received)))  # the server's traceback
        with self.lock:
            self.interactions.append((
                Request("POST", f"http://127.0.0.1:8765{handler.path}", body, {"content-type": "application/json"}),
                {"status": {"code": response.status, "message": response.reason},
                 "headers": {k: [v] for k, v in headers.items()}, "body": {"string": bytes(received)}},
            ))

    def save(self, name: str) -> Path:
        path = OUT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            cassette = {"requests": [r for r, _ in self.interactions],
                        "responses": [r for _, r in self.interactions]}
            path.write_text(serialize(cassette, yamlserializer), encoding="utf-8")
            self.interactions = []
        return path


def record_repair(recorder: Recorder, entries: int, timeout: float) -> None:
    seed = (ROOT / "seeds" / "2026-01-28-cs.LG.md").read_text(encoding="utf-8")
    starts = [i for i in range(len(seed)) if seed.startswith("### [", i) and (i == 0 or seed[i - 1] == "\n")]
    with tempfile.TemporaryDirectory() as tmp:
        digest = Path(tmp) / "seed.md"
        digest.write_text(seed[: starts[entries]], encoding="utf-8")
        env = {**os.environ, "OPENAI_API_KEY": "no-key-needed", "OPENAI_BASE_URL": recorder.base_url}
        env.pop("MODEL_NAME", None)
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "resummarize", "repair", str(digest), "--language", "English",
             "--cache", str(Path(tmp) / "journal.sqlite3"), "--report", str(Path(tmp) / "report.json"),
             "--timeout", str(timeout)],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        report = json.loads((Path(tmp) / "report.json").read_text()) if (Path(tmp) / "report.json").exists() else {}
    print(done.stderr, file=sys.stderr)
    print(f"repair: exit {done.returncode} in {time.monotonic() - started:.0f} s; the proxy relayed "
          f"{len(recorder.interactions) + recorder.hung_up} requests ({recorder.hung_up} given up by the client, not "
          f"kept); the report says {report.get('totals', {}).get('requests')}", file=sys.stderr)
    if recorder.hung_up:
        print("a replay cannot reproduce a request the client gave up on: raise --timeout", file=sys.stderr)


def record_keepalive(recorder: Recorder) -> None:
    """One streamed request whose prompt takes the server longer than 15 s to read: its body starts with
    keep-alive comments. (Two at once would not do: the server interrupts a stream when another request
    arrives, which ends the first with a role delta and `[DONE]`.)"""
    seed = (ROOT / "seeds" / "2026-01-28-cs.LG.md").read_text(encoding="utf-8")
    abstracts = [line[len("Abstract: "):] for line in seed.splitlines() if line.startswith("Abstract: ")]
    prompt = "Summarise these abstracts in one sentence.\n\n" + "\n\n".join(abstracts[:6])
    body = {"model": "gpt-4o-mini", "stream": True, "max_tokens": 60,
            "messages": [{"role": "user", "content": prompt}]}
    connection = http.client.HTTPConnection("127.0.0.1", recorder.server.server_port, timeout=900)
    connection.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
    connection.getresponse().read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    parser.add_argument("--entries", type=int, default=3, help="seed entries to repair (default 3)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="resummarize's --timeout: long enough that no answer is given up on (default 900)")
    parser.add_argument("--keepalive-only", action="store_true", help="record keepalive.yaml alone")
    args = parser.parse_args()
    recorder = Recorder(args.base_url)
    if not args.keepalive_only:
        record_repair(recorder, args.entries, args.timeout)
        print(recorder.save("repair.yaml"))
    record_keepalive(recorder)
    print(recorder.save("keepalive.yaml"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
