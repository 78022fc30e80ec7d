"""A watching worker fed a compressed daily pipeline for a quarter of an hour, through a provider outage.

    python bench/soak.py [--minutes 16] [--days 30] [--rewrites 6] [--outage-at 420] [--outage 60] [--drain 180]

`resummarize worker DIR --interval 5` runs as its own process against the fake provider on 127.0.0.1.
A pipeline thread writes one day every `minutes*60/(days+rewrites)` seconds, as upstream's workflow does:
the raw crawl, then the enhanced file line by line over 5 s, then the markdown digest rendered from it.
Each day is a corpus file with its own paper ids (`<id>.d<n>`, so the journal cannot serve day n+9 from
day n) and every fourth entry replaced by upstream's failure placeholders, on top of the corpus's own
broken entries. Some slots rewrite an earlier day from scratch instead (upstream re-running a day): its
answers must come from the journal, at zero requests. At `--outage-at` seconds the provider stops for
`--outage` seconds (connections refused) and starts again on the same port.

Every 30 s the table gets a row: the worker's resident memory, open descriptors and threads, the
journal's write-ahead log, the chat requests the fake logged (a refused connection never reaches it), the
answers it gave (HTTP 200), and repeats (answers for a paper the fake
had already answered: each is paid twice). At the end the worker gets SIGTERM; every JSONL file must be
clean and every markdown digest must equal the rendering of its JSONL file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from backfill import rewrite
from common import REPO, record

from resummarize.config import Settings
from resummarize.digest import JsonlDigest, load
from resummarize.digest.render import render_markdown
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider

CORPUS = REPO / "tests" / "corpus"
CHAT = "/v1/chat/completions"
FIRST_DAY = date(2027, 1, 1)


@dataclass
class Pipeline:
    """Writes the days into `folder` on a schedule; remembers what it wrote."""

    folder: Path
    days: int
    rewrites: int
    period: float
    stop: threading.Event
    written: list[Path] = field(default_factory=list)

    def run(self) -> None:
        sources = sorted(CORPUS.glob("*_AI_enhanced_*.jsonl"))
        every = max(1, self.days // max(1, self.rewrites))
        slots: list[int] = []  # day numbers; an old one again is a rewrite
        for day in range(self.days):
            slots.append(day)
            if day % every == every - 1 and len(slots) - day - 1 < self.rewrites:
                slots.append(day - every // 2)
        start = time.monotonic()
        for number, day in enumerate(slots):
            if self.stop.wait(max(0.0, start + number * self.period - time.monotonic())):
                return
            self.write_day(day, sources[day % len(sources)])

    def write_day(self, day: int, source: Path) -> None:
        name = (FIRST_DAY + timedelta(days=day)).isoformat()
        language = source.name.split("_AI_enhanced_")[1]
        lines = [rewrite(line, day, index % 4 == 0) for index, line in enumerate(source.read_text().splitlines())
                 if line.strip()]
        crawl = [json.dumps({k: v for k, v in json.loads(line).items() if k != "AI"}, ensure_ascii=False)
                 for line in lines]
        (self.folder / f"{name}.jsonl").write_text("\n".join(crawl) + "\n")
        enhanced = self.folder / f"{name}_AI_enhanced_{language}"
        with enhanced.open("w") as out:  # as the enhance step writes it: a line at a time, over 5 s
            for line in lines:
                out.write(line + "\n")
                out.flush()
                time.sleep(5.0 / len(lines))
        digest = load(enhanced)
        assert isinstance(digest, JsonlDigest)
        (self.folder / f"{name}.md").write_text(render_markdown(digest))
        self.written.append(enhanced)


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    fds: int
    threads: int
    wal_kb: float
    days: int
    requests: int
    answers: int
    repeats: int
    note: str


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines if ":" in line)


def answers(fake: FakeProvider) -> tuple[int, int]:
    """Chat answers (HTTP 200) and repeats among them (a paper answered before)."""
    papers = Counter(r.paper_id for r in fake.requests if r.path == CHAT and r.status == 200 and r.paper_id)
    return sum(papers.values()), sum(n - 1 for n in papers.values())


def sample(started: float, worker: subprocess.Popen[bytes], journal: Path, fake: FakeProvider,
           pipeline: Pipeline, note: str) -> Sample:
    status = proc_status(worker.pid)
    wal = Path(f"{journal}-wal")
    answered, repeats = answers(fake)
    return Sample(time.monotonic() - started, int(status["VmRSS"].split()[0]) / 1024,
                  len(os.listdir(f"/proc/{worker.pid}/fd")), int(status["Threads"]),
                  wal.stat().st_size / 1024 if wal.exists() else 0.0, len(pipeline.written), fake.count(CHAT),
                  answered, repeats, note)


def broken(path: Path) -> int:
    _, scan = scan_file(path, Settings())
    return len(scan.needs_repair)


def soak(args: argparse.Namespace) -> tuple[list[Sample], dict[str, str], list[str]]:
    root = Path(tempfile.mkdtemp(prefix="resummarize-soak-"))
    folder, journal = root / "data", root / "journal.sqlite3"
    folder.mkdir()
    stop = threading.Event()
    period = args.minutes * 60 / (args.days + args.rewrites)
    pipeline = Pipeline(folder, args.days, args.rewrites, period, stop)
    fake = FakeProvider(latency=args.latency).start()
    env = {**os.environ, "OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url}
    command = [sys.executable, "-m", "resummarize", "worker", str(folder), "--interval", "5",
               "--cache", str(journal)]
    log_path = root / "worker.log"
    samples: list[Sample] = []
    with log_path.open("wb") as log:
        worker = subprocess.Popen(command, env=env, stderr=log, cwd=root)
        feeder = threading.Thread(target=pipeline.run, daemon=True)
        started = time.monotonic()
        feeder.start()
        outage = (started + args.outage_at, started + args.outage_at + args.outage)
        down = False
        next_row = next_check = fed = started
        try:
            while feeder.is_alive() or not samples or samples[-1].note != "end":
                now = time.monotonic()
                note = ""
                if not down and outage[0] <= now < outage[1]:
                    fake.stop()
                    down, note = True, "provider stopped"
                elif down and now >= outage[1]:
                    fake.start()
                    down, note = False, "provider back"
                if worker.poll() is not None:
                    raise SystemExit(f"the worker exited with {worker.returncode}: see {log_path}")
                if not feeder.is_alive() and now >= next_check:
                    next_check = now + 5
                    if now > fed + args.drain or all(broken(path) == 0 for path in set(pipeline.written)):
                        note = "end"
                elif feeder.is_alive():
                    fed = now
                if note or now >= next_row:
                    samples.append(sample(started, worker, journal, fake, pipeline, note))
                    print(row(samples[-1]), flush=True)
                    while next_row <= now:
                        next_row += 30
                time.sleep(0.5)
        finally:
            stop.set()
            signalled = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
            exit_seconds = time.monotonic() - signalled
            fake.stop()
    lines = log_path.read_text().splitlines()
    stale = [md.name for md in folder.glob("*.md") if _stale(md)]
    outcome = {
        "exit code after SIGTERM": f"{code} in {exit_seconds:.1f} s",
        "days written (with rewrites)": str(len(pipeline.written)),
        "JSONL files still broken": str(sum(1 for path in set(pipeline.written) if broken(path))),
        "markdown digests not matching their JSONL": str(len(stale)),
        "worker said 'provider unavailable'": str(sum(1 for line in lines if line.startswith("provider unavailable"))),
        "worker said 'provider answers again'": str(sum(1 for line in lines
                                                         if line.startswith("provider answers again"))),
        "fatal lines": str(sum(1 for line in lines if line.startswith("fatal"))),
    }
    shutil.rmtree(root)
    return samples, outcome, [line for line in lines if line.startswith("provider")]


def _stale(markdown: Path) -> bool:
    sources = list(markdown.parent.glob(f"{markdown.stem}_AI_enhanced_*.jsonl"))
    digest = load(sources[0]) if sources else None
    return isinstance(digest, JsonlDigest) and markdown.read_text() != render_markdown(digest)


HEADER = "| s | worker RSS MB | fds | threads | journal WAL kB | days fed | requests | answers | repeats | event |"


def row(s: Sample) -> str:
    return (f"| {s.seconds:.0f} | {s.rss_mb:.1f} | {s.fds} | {s.threads} | {s.wal_kb:.0f} | {s.days} | {s.requests} "
            f"| {s.answers} | {s.repeats} | {s.note} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=16.0, help="how long the pipeline feeds the worker")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rewrites", type=int, default=6)
    parser.add_argument("--outage-at", type=float, default=420.0, help="seconds from the start")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the provider is away")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per chat answer")
    parser.add_argument("--drain", type=float, default=180.0, help="seconds to wait for the last repairs")
    parser.add_argument("--no-record", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    print(HEADER, flush=True)
    samples, outcome, said = soak(args)
    body = "\n".join([HEADER, "|" + "---|" * 10, *map(row, samples), "",
                      *(f"- {name}: {value}" for name, value in outcome.items()), "",
                      "What the worker said about the provider:", "",
                      *(f"    {line}" for line in said)])
    if args.no_record:
        print(body)
        return
    argv = " ".join(sys.argv[1:])
    record("Soak: a watching worker through a provider outage", f"python bench/soak.py {argv}".strip(), body)


if __name__ == "__main__":
    main()
