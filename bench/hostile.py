"""What a hostile provider costs a run now: time, bytes and requests for each case of issue 18 that the
exchange bounds (one deadline, output and body caps, abstract cut, re-asks that do not grow, credentials).

    python bench/hostile.py          # prints the table and records it in BENCHMARKS.md

Each case repairs the seed's first two entries (one to repair) against the fake provider, behind a server
that pings, trickles, runs on or answers 40,000 characters (tests/hostile.py).
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import REPO, record

sys.path.insert(0, str(REPO / "tests"))

from engine import run
from hostile import Behaviour, Hostile

from resummarize.testing.server import FakeProvider

SEED = REPO / "seeds" / "2026-01-28-cs.LG.md"
COMMAND = "python bench/hostile.py"


def two_entries(folder: Path, abstract_extra: str = "") -> Path:
    text = SEED.read_text(encoding="utf-8")
    starts = [i for i in range(len(text)) if text.startswith("### [", i) and text[i - 1] == "\n"]
    digest = folder / "two.md"
    body = text[: starts[2]]
    if abstract_extra:
        at = body.rindex("\nAbstract: ") + len("\nAbstract: ")
        body = body[:at] + abstract_extra + body[at:]
    digest.write_text(body, encoding="utf-8")
    return digest


async def case(behave: Callable[[dict[str, Any]], Behaviour], abstract_extra: str = "",
               **options: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as fake, Hostile(fake, behave) as server:
        digest = two_entries(Path(tmp), abstract_extra)
        started = time.monotonic()
        report = await run([digest], server, Path(tmp) / "j.db", language="English", **options)  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
        sizes = [len(json.dumps(s.body)) for s in server.seen]
        (entry,) = report.entries
        return {"time": elapsed, "requests": report.totals.requests, "seen": len(server.seen),
                "received": server.sent_bytes, "bodies": sizes, "status": entry.status,
                "why": (entry.error or entry.note or "")[:70]}


def main() -> int:
    runaway = "Let me think about this paper. " * 260
    long_answer = json.dumps({k: runaway for k in ("tldr", "motivation", "method", "result", "conclusion",
                                                   "evidence")})
    answers = iter([Behaviour(prose=long_answer)] * 5)
    cases = [
        ("`: ping` every second, --timeout 10", lambda b: Behaviour(pings=10_000, ping_every=1.0),
         "", {"timeout": 10.0}),
        ("a byte a second, --timeout 10", lambda b: Behaviour(trickle=1.0), "", {"timeout": 10.0}),
        ("an endless answer (60 MB offered)", lambda b: Behaviour(endless=60_000_000), "", {"reasks": 0}),
        ("40,000-character answers, 5 of them", lambda b: next(answers), "", {}),
        ("a 50 MB abstract", lambda b: Behaviour(), "x " * 25_000_000, {}),
    ]
    rows = ["| case | wall time | requests | bytes received | request bodies (kB) | outcome |",
            "|---|---|---|---|---|---|"]
    for name, behave, extra, options in cases:
        result = asyncio.run(case(behave, extra, **options))
        bodies = " → ".join(f"{size / 1000:.1f}" for size in result["bodies"])
        rows.append(f"| {name} | {result['time']:.1f} s | {result['requests']} (server saw {result['seen']}) | "
                    f"{result['received']:,} | {bodies} | {result['status']}: {result['why']} |")
        print(rows[-1], flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    body = "\n".join(rows) + f"\n\nPeak memory of the whole benchmark process: {peak:.0f} MB.\n"
    record("Hostile provider: time, bytes and requests", COMMAND, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
