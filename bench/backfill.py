"""A backfill of thousands of broken entries: the live path next to the Batch API path, in one run.

    python bench/backfill.py [--broken 5000] [--files 40] [--latency 0.05] [--limit 16] [--batch-delay 1.0]

The corpus's enhanced files are copied round-robin into `--files` files (with the raw crawl beside each
copy of its day). Every copy gets its own paper ids (`<id>.c<n>`): the journal keys answers by paper, so
without them copy 2 would be served from copy 1's answers. The corpus holds ~72 broken entries per copy,
too few for a backfill, so exactly `--broken` entries, spread evenly over the folder, are overwritten with
upstream's failure placeholders (each line re-serialised in its file's own JSON style). The folder is
then scanned, and repaired twice from fresh copies and fresh journals: live against a fake allowing
`--limit` requests at once, and through the fake's Batch API, whose rerun must create nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import openai
from common import REPO, record

from resummarize.config import RepairOptions, Settings
from resummarize.cost import BATCH_DISCOUNT, estimate_cost, price
from resummarize.digest.model import canonical
from resummarize.engine import repair
from resummarize.journal import Journal
from resummarize.plan import scan_paths, totals
from resummarize.provider.prompts import load_prompts
from resummarize.report import RepairReport
from resummarize.testing.server import FakeProvider

CORPUS = REPO / "tests" / "corpus"
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
#: What upstream writes in each field when its LLM call fails.
PLACEHOLDERS = {
    "tldr": "Summary generation failed",
    "motivation": "Motivation analysis unavailable",
    "method": "Method extraction failed",
    "result": "Result analysis unavailable",
    "conclusion": "Conclusion extraction failed",
}


def rewrite(line: str, copy: int, damage: bool) -> str:
    """The line with the copy's paper id (and placeholders if damaged), in the line's own escaping."""
    obj = json.loads(line)
    ascii_only = json.dumps(obj) == line  # enhanced files escape non-ASCII, the raw crawl does not
    obj["id"] = f"{obj['id']}.c{copy}"
    if damage:
        obj["AI"] = {key: PLACEHOLDERS[canonical(key)] for key in obj["AI"]}
    return json.dumps(obj, ensure_ascii=ascii_only)


def build(folder: Path, files: int, broken: int) -> None:
    """`files` enhanced files; line g of all their lines is damaged when (g+1)·B//N > g·B//N (exactly B)."""
    enhanced = sorted(CORPUS.glob("*_AI_enhanced_*.jsonl"))
    sources = [(n // len(enhanced), enhanced[n % len(enhanced)]) for n in range(files)]
    texts = [source.read_text().splitlines() for _, source in sources]
    total = sum(len(lines) for lines in texts)
    target = min(broken, total)
    g = 0
    for (copy, source), lines in zip(sources, texts, strict=True):
        out = folder / f"copy{copy:03d}" / source.name
        out.parent.mkdir(parents=True, exist_ok=True)
        kept = []
        for line in lines:
            damage = (g + 1) * target // total > g * target // total
            kept.append(rewrite(line, copy, damage) if line.strip() else line)
            g += 1
        out.write_text("\n".join(kept) + "\n")
        raw = CORPUS / (source.name.split("_AI_enhanced_")[0] + ".jsonl")
        if raw.exists():
            crawl = [rewrite(line, copy, False) if line.strip() else line for line in raw.read_text().splitlines()]
            (out.parent / raw.name).write_text("\n".join(crawl) + "\n")


@dataclass
class Survey:
    files: int
    entries: int
    broken: int
    missing: int
    seconds: float
    planned: float  # wall time of `repair --dry-run`: load, detect, render every prompt, estimate
    estimate: str


def survey(folder: Path) -> Survey:
    """Wall time of a full scan (load, detect, raw-sibling check) and of a dry-run plan of the folder."""
    start = time.perf_counter()
    scans = [scan for _, scan in scan_paths([folder], Settings())]
    seconds = time.perf_counter() - start
    total = totals(scans)
    start = time.perf_counter()
    with Journal(folder.parent / "dry.db") as db:
        plan = asyncio.run(repair([folder], RepairOptions(dry_run=True), client=None, journal=db,
                                  prompts=load_prompts()))
    planned = time.perf_counter() - start
    return Survey(len(scans), total.entries, total.needs_repair, total.missing, seconds, planned,
                  estimate_cost(MODEL, plan.estimated_requests, plan.estimated_prompt_tokens).describe())


@dataclass
class Outcome:
    report: RepairReport
    seconds: float
    chat: int  # chat requests the fake served
    calls: int  # every HTTP request the fake served
    batches: int


Job = Callable[[openai.AsyncOpenAI, Journal], Awaitable[RepairReport]]


def timed(fake: FakeProvider, journal: Path, job: Job) -> Outcome:
    """One run with a fresh client; counts are what the fake saw during this run only."""

    async def go() -> RepairReport:
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0, timeout=120.0)
        try:
            with Journal(journal) as db:
                return await job(client, db)
        finally:
            await client.close()

    fake.reset_log()
    batches = fake.batches
    start = time.perf_counter()
    report = asyncio.run(go())
    seconds = time.perf_counter() - start
    return Outcome(report, seconds, fake.count(CHAT), fake.count(), fake.batches - batches)


def live(folder: Path, latency: float, limit: int) -> Outcome:
    options = RepairOptions(concurrency=limit)
    with FakeProvider(latency=latency, max_concurrency=limit) as fake:
        return timed(fake, folder.parent / "live.db", lambda client, db: repair(
            [folder], options, client=client, journal=db, prompts=load_prompts()))


def batch(folder: Path, delay: float) -> tuple[Outcome, Outcome]:
    """The batch run, then the same command again (nothing left: no batch, no request)."""

    def job(client: openai.AsyncOpenAI, db: Journal) -> Awaitable[RepairReport]:
        options = RepairOptions(batch=True, wait=True, poll_interval=0.2)
        return repair([folder], options, client=client, journal=db, prompts=load_prompts())

    with FakeProvider(batch_delay=delay) as fake:
        first = timed(fake, folder.parent / "batch.db", job)
        again = timed(fake, folder.parent / "batch.db", job)
    return first, again


def dollars(report: RepairReport, discount: float = 1.0) -> str:
    rates = price(MODEL)
    assert rates is not None
    t = report.totals
    return f"${(t.prompt_tokens * rates[0] + t.completion_tokens * rates[1]) / 1e6 * discount:,.2f}"


def body(folder: Survey, on: Outcome, off: Outcome, again: Outcome, args: argparse.Namespace) -> str:
    lt, bt, limit, latency = on.report.totals, off.report.totals, args.limit, args.latency
    ideal = lt.requests * latency / limit
    return (
        f"| figure | value |\n|---|---|\n"
        f"| files / entries | {folder.files} / {folder.entries:,} |\n"
        f"| entries needing repair (missing papers, not restored) | {folder.broken:,} ({folder.missing:,}) |\n"
        f"| scan of the folder (wall time) | {folder.seconds:.2f} s "
        f"({folder.entries / folder.seconds:,.0f} entries/s) |\n"
        f"| `repair --dry-run` of the folder (plan every request) | {folder.planned:.2f} s |\n"
        f"| dry-run estimate | {folder.estimate} |\n"
        f"\n| figure | live, `--concurrency {limit}` | `--batch --wait` |\n|---|---|---|\n"
        f"| wall time | **{on.seconds:.1f} s** (ideal N × {latency} s / {limit}: {ideal:.1f} s) "
        f"| **{off.seconds:.1f} s** (the fake's batch runs {args.batch_delay:g} s) |\n"
        f"| repaired / failed | {lt.repaired:,} / {lt.failed} | {bt.repaired:,} / {bt.failed} |\n"
        f"| requests | {on.chat:,} chat | {off.batches} batch of {bt.requests:,} lines, {off.chat} chat, "
        f"{off.calls} HTTP calls in all |\n"
        f"| tokens (prompt + completion) | {lt.prompt_tokens:,} + {lt.completion_tokens:,} "
        f"| {bt.prompt_tokens:,} + {bt.completion_tokens:,} |\n"
        f"| cost at {MODEL} list price | {dollars(on.report)} | {dollars(off.report, BATCH_DISCOUNT)} |\n"
        f"| same command again | | {again.batches} new batches, {again.chat} chat requests, "
        f"{again.report.totals.needs_repair} to repair, {again.seconds:.1f} s |\n"
        f"\n{folder.broken:,} entries are {bt.requests:,} distinct questions (a paper listed twice is asked once); "
        f"the fake answers in {latency} s, {limit} requests at once.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broken", type=int, default=5000)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--limit", type=int, default=16)
    parser.add_argument("--batch-delay", type=float, default=1.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        build(data, args.files, args.broken)
        list(scan_paths([CORPUS], Settings()))  # warm up: imports, the language-ID model (~1 s, once)
        folder = survey(data)
        for name in ("live", "batch"):
            shutil.copytree(data, Path(tmp) / name / "data")
        on = live(Path(tmp) / "live" / "data", args.latency, args.limit)
        off, again = batch(Path(tmp) / "batch" / "data", args.batch_delay)
    command = f"python bench/backfill.py --broken {args.broken} --files {args.files}"
    record("Backfill: live vs Batch API", command, body(folder, on, off, again, args))


if __name__ == "__main__":
    main()
