"""A generated data branch of upstream's size and shape, made from the real corpus.

    python bench/branch_data.py DIR [--days 407] [--start 2020-01-01]

Upstream's data branch held 407 enhanced JSONL files (82,476 entries), 410 raw crawls and 184 markdown
digests; 14,352 crawled papers never reached an enhanced file. `--days 407` makes that shape from the
nine enhanced files of `tests/corpus` (their broken entries included): each day takes the next ~203 lines
of the corpus, every paper gets an arXiv-shaped id of its own (a few are listed again the next day, as
upstream lists a paper on two days), its raw crawl `DATE.jsonl` holds the day's papers plus ~35 the
enhanced file dropped, 184 days in 407 also get the markdown digest `DATE.md`, and 3 in 407 crawls have
no enhanced file at all. Lines keep their own bytes except the id.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
from pathlib import Path

from common import REPO

CORPUS = REPO / "tests" / "corpus"
#: Upstream's data branch, the shape this generator scales.
UPSTREAM_DAYS, UPSTREAM_ENTRIES, UPSTREAM_MARKDOWN, UPSTREAM_RAW_ONLY, UPSTREAM_DROPPED = 407, 82_476, 184, 3, 14_352
#: Share of a day's papers that were already listed the day before.
RELISTED = 0.01
_ID = re.compile(rb'^\{"id": ?"([^"]+)"')


def _pool() -> list[bytes]:
    lines = []
    for path in sorted(CORPUS.glob("*_AI_enhanced_*.jsonl")):
        lines += [line for line in path.read_bytes().split(b"\n") if _ID.match(line)]
    return lines


def _with_id(line: bytes, paper_id: str) -> bytes:
    return _ID.sub(lambda m: m.group(0).replace(m.group(1), paper_id.encode()), line, count=1)


def _paper_id(day: int, number: int) -> str:
    """Distinct, arXiv-shaped ids: a `yymm` block per 100 days, a 5-digit serial inside it."""
    return f"{1000 + day // 100:04d}.{(day % 100) * 1000 + number:05d}"


def _raw_line(line: bytes) -> bytes:
    """The raw crawl's form of an enhanced line: the same paper without its `AI` object."""
    obj = json.loads(line)
    obj.pop("AI", None)
    return json.dumps(obj, ensure_ascii=False).encode()


def generate(folder: Path, days: int = UPSTREAM_DAYS, start: str = "2020-01-01", seed: int = 11) -> dict[str, int]:
    """Write the branch; returns what it holds (files and entries by kind)."""
    rng = random.Random(seed)
    pool = _pool()
    folder.mkdir(parents=True, exist_ok=True)
    first = dt.date.fromisoformat(start)
    per_day = UPSTREAM_ENTRIES / UPSTREAM_DAYS
    dropped_per_day = UPSTREAM_DROPPED / UPSTREAM_DAYS
    cursor, previous = 0, []
    counts = {"enhanced": 0, "entries": 0, "raw": 0, "markdown": 0, "dropped": 0, "relisted": 0}
    skipped = 0
    for day in range(days):
        date = (first + dt.timedelta(days=day + skipped)).isoformat()
        relist = [line for line in previous if rng.random() < RELISTED]
        size = round((day + 1) * per_day) - round(day * per_day) - len(relist)
        lines = []
        for number in range(size):
            source = pool[cursor % len(pool)]
            cursor += 1
            lines.append(_with_id(source, _paper_id(day, number)))
        lines[1:1] = relist
        counts["relisted"] += len(relist)
        drop = round((day + 1) * dropped_per_day) - round(day * dropped_per_day)
        raw = list(lines)
        for number in range(drop):
            extra = _with_id(pool[(cursor + number * 7) % len(pool)], _paper_id(day, 900 + number % 100))
            raw.insert(rng.randrange(len(raw) + 1), extra)
        counts["dropped"] += drop
        (folder / f"{date}.jsonl").write_bytes(b"\n".join(_raw_line(line) for line in raw) + b"\n")
        counts["raw"] += 1
        if (day + 1) * UPSTREAM_RAW_ONLY // UPSTREAM_DAYS > day * UPSTREAM_RAW_ONLY // UPSTREAM_DAYS:
            skipped += 1  # a crawl whose enhanced file was never written: the next date
            lonely = (first + dt.timedelta(days=day + skipped)).isoformat()
            (folder / f"{lonely}.jsonl").write_bytes(b"\n".join(_raw_line(line) for line in raw[:50]) + b"\n")
            counts["raw"] += 1
        enhanced = folder / f"{date}_AI_enhanced_Chinese.jsonl"
        enhanced.write_bytes(b"\n".join(lines) + b"\n")
        counts["enhanced"] += 1
        counts["entries"] += len(lines)
        if (day + 1) * UPSTREAM_MARKDOWN // UPSTREAM_DAYS > day * UPSTREAM_MARKDOWN // UPSTREAM_DAYS:
            _markdown(enhanced, folder / f"{date}.md")
            counts["markdown"] += 1
        previous = lines
    return counts


def _markdown(enhanced: Path, target: Path) -> None:
    from resummarize.digest import load_digest
    from resummarize.digest.render import DEFAULT_CATEGORIES, render_markdown

    digest = load_digest(enhanced)
    target.write_text(render_markdown(digest, DEFAULT_CATEGORIES), encoding="utf-8")  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--days", type=int, default=UPSTREAM_DAYS)
    parser.add_argument("--start", default="2020-01-01")
    args = parser.parse_args()
    print(generate(args.folder, args.days, args.start))


if __name__ == "__main__":
    main()
