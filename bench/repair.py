"""Repair wall time against the fake provider, next to the provider-bound ideal and a sequential loop.

    python bench/repair.py [--latency 0.2] [--limit 8] [--copies 2] [--rpm 120]

Part 1: the fake allows `--limit` requests at once, each taking `--latency` s; N papers (the seed's 96
broken entries × `--copies` files) can't finish faster than N × latency / limit. The same entries are
then repaired one request at a time, the way upstream's pipeline runs. Part 2: a fake limited to
`--rpm` requests per minute (sliding window, 429 + Retry-After beyond it); the engine is not told the
limit and learns it from the `x-ratelimit-*` headers.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, record

sys.path.insert(0, str(REPO / "tests"))

from engine import run

from resummarize.testing.server import FakeProvider

SEED = REPO / "seeds" / "2026-01-28-cs.LG.md"


def digests(folder: Path, copies: int) -> list[Path]:
    """Copies of the seed whose papers are distinct (another month in each copy's arXiv ids): a paper
    listed twice would be asked once, and the benchmark would measure nothing."""
    text = SEED.read_text(encoding="utf-8")
    paths = []
    for n in range(copies):
        target = folder / f"seed-{n}.md"
        target.write_text(re.sub(r"arxiv\.org/abs/26\d\d\.", f"arxiv.org/abs/26{n + 1:02d}.", text), encoding="utf-8")
        paths.append(target)
    return paths


def timed_run(fake: FakeProvider, copies: int, **options: object) -> tuple[float, int, int]:
    """Wall time, repaired entries and requests of one fresh run (new files, empty journal)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = digests(Path(tmp), copies)
        fake.reset_log()
        start = time.perf_counter()
        report = asyncio.run(run(paths, fake, Path(tmp) / "j.db", language="English", **options))  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
    return elapsed, report.totals.repaired, fake.count()


def concurrency_part(latency: float, limit: int, copies: int) -> str:
    with FakeProvider(latency=latency, max_concurrency=limit) as fake:
        timed_run(fake, 1, concurrency=limit)  # warm-up: imports, the language-ID model (~1 s, once)
        ours, repaired, requests = timed_run(fake, copies, concurrency=limit)
        too_many = fake.count(status=429)
        sequential, seq_repaired, _ = timed_run(fake, copies, concurrency=1)
    ideal = repaired * latency / limit
    return (
        f"| figure | value |\n|---|---|\n"
        f"| papers repaired (ours / sequential) | {repaired} / {seq_repaired} |\n"
        f"| provider-bound ideal: N × latency / limit | {ideal:.2f} s |\n"
        f"| resummarize, `--concurrency {limit}` | {ours:.2f} s |\n"
        f"| **wall time / ideal** | **{ours / ideal:.3f}** |\n"
        f"| sequential loop (one request at a time) | {sequential:.2f} s |\n"
        f"| **sequential / resummarize** | **{sequential / ours:.1f}×** |\n"
        f"| requests per repaired entry | {requests / repaired:.3f} ({requests} requests, {too_many} got 429) |\n"
    )


def rpm_part(rpm: int, latency: float, copies: int) -> str:
    with FakeProvider(latency=latency, rpm=rpm) as fake:
        elapsed, repaired, requests = timed_run(fake, copies, concurrency=8)
        limited = fake.count(status=429)
    window = 60.0 * ((repaired - 1) // rpm) + latency  # a sliding window lets `rpm` through per minute
    even = 60.0 * repaired / rpm
    return (
        f"| figure | value |\n|---|---|\n"
        f"| papers repaired | {repaired} |\n"
        f"| fastest schedule the limit allows (sliding 60 s window) | {window:.1f} s |\n"
        f"| resummarize, limit learnt from `x-ratelimit-*` headers | {elapsed:.1f} s |\n"
        f"| **wall time / allowed** | **{elapsed / window:.3f}** (an even {rpm}/min pace would take {even:.0f} s) |\n"
        f"| requests answered 429 | {limited} of {requests} ({100 * limited / requests:.1f} %) |\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--rpm", type=int, default=120)
    parser.add_argument("--skip-rpm", action="store_true")
    args = parser.parse_args()
    record(
        "Repair: concurrency against the provider's limit",
        f"python bench/repair.py --latency {args.latency} --limit {args.limit} --copies {args.copies}",
        concurrency_part(args.latency, args.limit, args.copies),
    )
    if not args.skip_rpm:
        record(
            "Repair: a provider limited to requests per minute",
            f"python bench/repair.py --rpm {args.rpm} --copies {args.copies}",
            rpm_part(args.rpm, args.latency, args.copies),
        )


if __name__ == "__main__":
    main()
