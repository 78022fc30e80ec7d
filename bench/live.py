"""A repair against a live OpenAI-compatible server (a local llama.cpp server, say), counting what the
transport saw: requests sent, responses delivered, requests that timed out.

    python bench/live.py --base-url http://127.0.0.1:8766/v1 --model MODEL [--papers 24] [--minutes 10]
                         [--fixed-window]

The run uses the default options (8 in flight, 60 s per request) on the seed's first `--papers` papers
and stops after `--minutes` (what was validated is kept). `--fixed-window` switches the window's cut off:
the fixed 8 in flight of before. Nothing is written to BENCHMARKS.md: a live server's figures depend on
the machine it runs on, and belong with the server's own counts (its log).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
from common import REPO

sys.path.insert(0, str(REPO / "tests"))
from engine import first_papers
from repair import digests

from resummarize.config import RepairOptions, Settings
from resummarize.engine import repair
from resummarize.journal import Journal
from resummarize.provider import throttle


class Counting(httpx2.AsyncHTTPTransport):
    """The transport, counting requests sent, responses delivered (the whole body read) and requests that
    timed out, before the headers or within the body (the transport's own timeout, or the request's
    deadline cancelling it)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = self.delivered = self.timed_out = self.cancelled = self.other = 0
        self.latencies: list[float] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.sent += 1
        start = time.monotonic()
        try:
            response = await super().handle_async_request(request)
        except httpx2.TimeoutException:
            self.timed_out += 1
            raise
        except asyncio.CancelledError:  # the request's deadline (asyncio.timeout), or the run's end
            self.cancelled += 1
            raise
        except BaseException:
            self.other += 1
            raise
        response.stream = _Watched(response.stream, self, start)  # type: ignore[arg-type]
        return response


class _Watched(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, counter: Counting, start: float) -> None:
        self.inner, self.counter, self.start = inner, counter, start

    async def __aiter__(self) -> Any:
        try:
            async for chunk in self.inner:
                yield chunk
        except httpx2.TimeoutException:
            self.counter.timed_out += 1
            raise
        except asyncio.CancelledError:
            self.counter.cancelled += 1
            raise
        except BaseException:
            self.counter.other += 1
            raise
        self.counter.delivered += 1
        self.counter.latencies.append(time.monotonic() - self.start)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--papers", type=int, default=24)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fixed-window", action="store_true")
    args = parser.parse_args()
    if args.fixed_window:
        throttle.Window.cut = lambda *_: None  # type: ignore[method-assign]
    transport = Counting()
    waits: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        seed = first_papers(digests(Path(tmp), 1)[0], Path(tmp) / "first.md", args.papers)
        options = RepairOptions(settings=Settings(language="English"), model=args.model)
        client = openai.AsyncOpenAI(api_key="none", base_url=args.base_url, max_retries=0, timeout=options.timeout,
                                    http_client=openai.DefaultAsyncHttpxClient(transport=transport))
        started = time.monotonic()
        outcome = "finished"
        with Journal(Path(tmp) / "j.db") as journal:
            try:
                report = await asyncio.wait_for(
                    repair([seed], options, client=client, journal=journal, on_wait=waits.append),
                    args.minutes * 60)
                outcome += f": {report.totals.repaired} repaired, {report.totals.failed} failed"
            except TimeoutError:
                outcome = f"stopped after {args.minutes:g} min"
            except Exception as exc:  # a fatal stop is a figure too
                outcome = f"{type(exc).__name__}: {exc}"
            finally:
                await client.close()
        wall = time.monotonic() - started
    latencies = sorted(transport.latencies)
    median = latencies[len(latencies) // 2] if latencies else float("nan")
    print(f"window: {'fixed 8' if args.fixed_window else 'adaptive'}; {outcome}")
    print(f"requests sent {transport.sent}, responses delivered {transport.delivered}, timed out "
          f"{transport.timed_out + transport.cancelled} (cut off by the deadline or the run's end: "
          f"{transport.cancelled}), other failures {transport.other}; wall {wall:.0f} s; "
          f"median response {median:.1f} s")
    for line in waits:
        print("wait:", line)


if __name__ == "__main__":
    asyncio.run(main())
