"""The `mismatched` screen on published data: false alarms, rotated summaries caught, stability, cost.

    python bench/mismatched.py [--corpus DIR] [--trials 10] [--against REV]

False alarms: every digest of `--corpus` (default `tests/corpus`; upstream's sampled days sit beside the
repository in `../shared/corpus/daily-arxiv-data`) is scanned as published. Upstream asks for each paper in
a call of its own, so every `mismatched` entry counts as a false alarm; each is printed (id, title,
summary) for a reader to check. The thresholds were set on the files also in `tests/corpus` ("tuned
on"); the others are reported apart ("scored on").

Rotated summaries caught: in each enhanced file, the AI fields of 10 random good entries are rotated
among themselves, `--trials` times; the share of rotated entries flagged, and the entries outside the
rotation flagged meanwhile.

Stability: a day present both as JSONL and as markdown gets the same rotation in both forms (by id);
the flagged ids must be the same.

Cost: one JSONL file of 5,000 and one of 20,000 entries (the corpus' entries, ids made distinct, repeated
as needed), CPU time of `scan`, best of 3, side by side; with `--against REV` also with
`resummarize/grounding.py` of that git revision.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import types
from pathlib import Path

from common import REPO, compile_package, record
from scan import grounding_at

from resummarize import plan
from resummarize.config import Settings
from resummarize.digest import load
from resummarize.digest.model import FIELDS, Digest, canonical

TUNED = {path.name for path in (REPO / "tests" / "corpus").iterdir()}


def summary_text(fields: dict[str, str]) -> str:
    return " ".join(value for key, value in fields.items() if canonical(key) in FIELDS)


def published(paths: list[Path]) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Entries and `mismatched` listed per group (tuned on / scored on), and a note per flagged entry."""
    counts = {"tuned on": [0, 0], "scored on": [0, 0]}
    notes = []
    for path in paths:
        _, scan = plan.scan_file(path, Settings())
        group = counts["tuned on" if path.name in TUNED else "scored on"]
        group[0] += scan.entries
        group[1] += len(scan.mismatched)
        if scan.mismatched:
            digest = load(path)
            by_id = {entry.id: entry for entry in digest.entries}
            for paper in scan.mismatched:
                entry = by_id[paper]
                notes.append(f"{path.name} {paper} {entry.title!r}\n    {summary_text(entry.fields)[:300]}")
    return {name: (n, flagged) for name, (n, flagged) in counts.items()}, notes


def judged(digest: Digest) -> tuple[list[str | None], list[str]]:
    """What the scan hands the screen: the summaries of entries with no other problem, and the sources."""
    verdicts = plan.plan_digest(digest, Settings()).verdicts
    summaries = [None if i in verdicts else summary_text(e.fields) for i, e in enumerate(digest.entries)]
    return summaries, [f"{e.title} {e.abstract}" for e in digest.entries]


def rotated(summaries: list[str | None], ids: list[str], chosen: list[str]) -> list[str | None]:
    """The summaries with those of the `chosen` ids rotated: each takes the next one's."""
    at = {paper: i for i, paper in enumerate(ids)}
    moved = [summaries[at[paper]] for paper in chosen]
    texts = list(summaries)
    for paper, text in zip(chosen, moved[1:] + moved[:1], strict=True):
        texts[at[paper]] = text
    return texts


def rotations(paths: list[Path], trials: int) -> tuple[int, int, int]:
    """(rotated entries, caught, entries outside the rotation flagged) over every file and trial."""
    total = caught = stray = 0
    for path in paths:
        digest = load(path)
        summaries, sources = judged(digest)
        ids = [e.id for e in digest.entries]
        good = sorted(ids[i] for i, text in enumerate(summaries) if text is not None)
        for trial in range(trials):
            chosen = random.Random(trial).sample(good, 10)
            found = {ids[s.index] for s in plan.grounding.shifted(rotated(summaries, ids, chosen), sources)}
            total += 10
            caught += len(found & set(chosen))
            stray += len(found - set(chosen))
    return total, caught, stray


def stability(folder: Path, trials: int) -> tuple[int, int]:
    """(rotations, rotations whose flagged ids differ) between a day's JSONL file and its markdown."""
    same = differ = 0
    for markdown in sorted(folder.glob("*.md")):
        enhanced = sorted(folder.glob(f"{markdown.stem}_AI_enhanced_*.jsonl"))
        if not enhanced:
            continue
        forms = [load(enhanced[0]), load(markdown)]
        judged_forms = [(judged(d), [e.id for e in d.entries]) for d in forms]
        good = sorted(set.intersection(*({ids[i] for i, t in enumerate(s) if t is not None}
                                         for (s, _), ids in judged_forms)))
        for trial in range(trials):
            chosen = random.Random(trial).sample(good, 10)
            flagged = [{ids[s.index] for s in plan.grounding.shifted(rotated(summaries, ids, chosen), sources)}
                       for (summaries, sources), ids in judged_forms]
            same += flagged[0] == flagged[1]
            differ += flagged[0] != flagged[1]
    return same + differ, differ


def big_file(folder: Path, paths: list[Path], size: int) -> Path:
    """One JSONL file of `size` entries from the corpus' enhanced files, ids made distinct."""
    lines = [line for path in paths if path.suffix == ".jsonl"
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    target = folder / f"2026-01-01-{size}_AI_enhanced_Chinese.jsonl"
    with target.open("w", encoding="utf-8") as out:
        for n in range(size):
            obj = json.loads(lines[n % len(lines)])
            obj["id"] = f"{obj['id']}-{n // len(lines)}"
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return target


def scan_seconds(path: Path, grounding: types.ModuleType | None = None) -> float:
    current = plan.grounding
    plan.grounding = grounding or current  # type: ignore[assignment]
    try:
        best = float("inf")
        for _ in range(3):
            start = time.process_time()
            plan.scan_file(path, Settings())
            best = min(best, time.process_time() - start)
        return best
    finally:
        plan.grounding = current


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "tests" / "corpus")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--against", metavar="REV", help="also time the scan with grounding.py of this revision")
    args = parser.parse_args()
    compile_package()
    paths = sorted(p for p in args.corpus.iterdir() if p.suffix == ".md" or "_AI_enhanced_" in p.name)
    groups, notes = published(paths)
    entries = sum(n for n, _ in groups.values())
    flagged = sum(f for _, f in groups.values())
    enhanced = [p for p in paths if p.suffix == ".jsonl"]
    total, caught, stray = rotations(enhanced, args.trials)
    compared, differ = stability(args.corpus, args.trials)
    rows = [f"| published, {name} | {n:,} | {f} | {10_000 * f / n:.2f} |" for name, (n, f) in groups.items() if n]
    rows.append(f"| published, all | {entries:,} | {flagged} | {10_000 * flagged / entries:.2f} |")
    body = (
        f"Corpus: {len(paths)} digests ({len(enhanced)} enhanced JSONL files, {len(paths) - len(enhanced)} "
        "markdown digests).\n\n| data | entries | `mismatched` listed | per 10,000 entries |\n|---|---|---|---|\n"
        + "\n".join(rows) + "\n\n"
        f"Rotated summaries caught: {caught} of {total} (**{caught / total:.1%}**; 10 good entries rotated "
        f"per file, {args.trials} trials per file); entries outside the rotation flagged meanwhile: {stray}.\n\n"
        f"Same verdict in a day's JSONL file and its markdown digest: {compared - differ} of {compared} "
        "rotations.\n\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        small, large = (big_file(Path(tmp), enhanced, size) for size in (5_000, 20_000))
        timed = [("this tree", None)]
        if args.against:
            timed.append((f"grounding.py of {args.against}", grounding_at(args.against)))
        for name, module in timed:
            a, b = scan_seconds(small, module), scan_seconds(large, module)
            body += (f"Scan CPU time, {name}: 5,000 entries {a:.2f} s, 20,000 entries {b:.2f} s "
                     f"(**{b / a:.1f}×** for 4× the entries).\n")
    command = "python bench/mismatched.py" + (f" --corpus {sys.argv[sys.argv.index('--corpus') + 1]}"
                                              if "--corpus" in sys.argv else "")
    command += f" --trials {args.trials}" + (f" --against {args.against}" if args.against else "")
    record("Mismatched: false alarms on published data, rotations caught, cost", command, body)
    print("\nlisted as mismatched (read each):", *notes, sep="\n  ", file=sys.stderr)


if __name__ == "__main__":
    main()
