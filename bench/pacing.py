"""Pacing: the adaptive window against a one-slot server, next to the fixed window of before, and the
cloud-like rows that must not lose anything.

    python bench/pacing.py [--papers 48] [--service 0.5] [--timeout 2]

Part 1: a fake that computes one answer at a time and keeps the others in line (`when_busy="queue"`,
like llama.cpp's server; every request it reaches is computed, also after its client gave up), with
the default 8 in flight and a `--timeout` that 8 in line overrun. The same run with the window's cut
switched off is the fixed window of before. Part 2: whole-process `repair` of 192 papers against a
provider that keeps up (16 slots, 2 s per answer) and one limited to 120 requests a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from branch import live
from common import REPO, compile_package, record

sys.path.insert(0, str(REPO / "tests"))
from engine import first_papers, run
from repair import digests

from resummarize.provider import throttle
from resummarize.testing.server import FakeProvider


def one_slot(papers: int, service: float, timeout: float, *, adaptive: bool) -> tuple[float, int, int, int, int]:
    """Wall time, papers repaired and failed, requests sent, and requests the server computed."""
    cut = throttle.Window.cut
    if not adaptive:
        throttle.Window.cut = lambda *_: None  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                FakeProvider(max_concurrency=1, when_busy="queue", latency=service) as fake:
            seed = first_papers(digests(Path(tmp), 1)[0], Path(tmp) / "first.md", papers)
            start = time.perf_counter()
            report = asyncio.run(run([seed], fake, Path(tmp) / "j.db", language="English", timeout=timeout))
            elapsed = time.perf_counter() - start
            time.sleep(min(8 * service, 5.0))  # abandoned requests still in line are computed, then logged
            computed = fake.count(status=200)
    finally:
        throttle.Window.cut = cut  # type: ignore[method-assign]
    return elapsed, report.totals.repaired, report.totals.failed, report.totals.requests, computed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=48)
    parser.add_argument("--service", type=float, default=0.5)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--skip-cloud", action="store_true")
    args = parser.parse_args()
    compile_package()
    one_slot(4, 0.01, 5.0, adaptive=True)  # warm-up: imports, the language-ID model
    rows = []
    for adaptive in (False, True):
        wall, repaired, failed, sent, computed = one_slot(args.papers, args.service, args.timeout,
                                                          adaptive=adaptive)
        rows.append(f"| {'adaptive window (now)' if adaptive else 'fixed window of 8 (before)'} | "
                    f"{repaired} / {failed} | {sent} | {sent - repaired - failed} | {computed - repaired} | "
                    f"{wall:.1f} s |\n")
    ideal = args.papers * args.service
    body = (f"A one-slot server ({args.service:g} s an answer, the others in line), {args.papers} papers of the "
            f"seed, `--concurrency 8` (the default), `--timeout {args.timeout:g}`: 8 in line wait "
            f"{8 * args.service:g} s. The server's own pace: {ideal:.0f} s.\n\n"
            "| window | repaired / failed | requests sent | timed out | computed, never delivered | wall time |\n"
            "|---|---|---|---|---|---|\n" + "".join(rows))
    if not args.skip_cloud:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            fast = live(2.0, 16, 2, None, tmp)
            limited = live(0.2, 16, 2, 120, tmp)
        fast_ideal = fast[1] * 2.0 / 16
        allowed = 60.0 * ((limited[1] - 1) // 120) + 0.2
        body += ("\n| cloud-like row, whole process | measured | goal |\n|---|---|---|\n"
                 f"| `repair`, {fast[1]} papers, latency 2 s, 16 slots (ideal {fast_ideal:.0f} s) | "
                 f"{fast[0]:.1f} s = **{fast[0] / fast_ideal:.3f}× ideal** ({fast[2]} requests) | ≤ 1.15× |\n"
                 f"| `repair` under a 120-requests-per-minute sliding window | {limited[3]} of {limited[2]} "
                 f"answered 429 (**{100 * limited[3] / limited[2]:.1f} %**); {limited[0]:.1f} s = "
                 f"{limited[0] / allowed:.3f}× the fastest schedule ({allowed:.1f} s) | ≤ 3 % |\n")
    command = (f"python bench/pacing.py --papers {args.papers} --service {args.service:g} "
               f"--timeout {args.timeout:g}")
    record("Repair: pacing against a one-slot server", command, body)


if __name__ == "__main__":
    main()
