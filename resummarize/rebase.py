"""A run's edits, redone on a file another writer changed while the run was asking.

The pipeline may append papers to an enhanced JSONL file, or another tool rewrite a digest, while a
repair waits for its answers. The file is then read again and the validated answers applied to what it
holds now, matched by paper id: papers added meanwhile are kept, and an entry that changed meanwhile
is left as the other writer left it (and reported), never overwritten with an answer about its old text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.markdown import MarkdownDigest
from resummarize.digest.model import Digest, Entry
from resummarize.plan import Job
from resummarize.writer import Snapshot


@dataclass
class Source:
    """What a digest held when the run read it: its bytes' snapshot and the entries it will edit."""

    snapshot: Snapshot
    #: By the entry's index when read: the entry as it was, and which occurrence of its id it was.
    originals: dict[int, tuple[Entry, int]]
    #: Papers whose entry another writer changed meanwhile: left alone.
    changed: list[str] = field(default_factory=list)


def capture(digest: Digest, jobs: Sequence[Job]) -> Source:
    """Taken before any answer is applied to `digest` (its bytes are still those read)."""
    edited = {job.index for job in jobs if job.index is not None}
    seen: dict[str, int] = {}
    originals = {}
    for index, entry in enumerate(digest.entries):
        rank = seen[entry.id] = seen.get(entry.id, -1) + 1
        if index in edited:
            originals[index] = (entry.model_copy(deep=True), rank)
    return Source(Snapshot.of(digest.to_bytes()), originals)


def reapply(current: bytes, path: Path, fmt: str, jobs: Sequence[Job], source: Source) -> bytes:
    """`current` with every answer of `jobs` applied by paper id; fills `source.changed`."""
    fresh: Digest = (JsonlDigest if fmt == "jsonl" else MarkdownDigest).parse(current, path)
    where: dict[str, list[int]] = {}
    for index, entry in enumerate(fresh.entries):
        where.setdefault(entry.id, []).append(index)
    source.changed.clear()
    inserts = []
    for job in jobs:
        if job.outcome is None:
            continue
        if job.index is None:
            if job.entry.id not in where:
                inserts.append(job)
            continue
        then, rank = source.originals[job.index]
        found = where.get(job.entry.id, [])
        if rank >= len(found):
            continue  # removed meanwhile: not brought back
        index = found[rank]
        if not _same(fresh.entries[index], then):
            source.changed.append(job.entry.id)
            continue
        fresh.set_fields(index, {k: job.outcome.fields[k] for k in job.apply})
    insert_restored(fresh, inserts)
    return fresh.to_bytes()


def _same(now: Entry, then: Entry) -> bool:
    keep = {"id", "title", "abstract", "authors", "categories", "fields"}
    return now.model_dump(include=keep) == then.model_dump(include=keep)


def insert_restored(digest: Digest, jobs: Sequence[Job]) -> None:
    """Insert each answered restored paper after the paper that precedes it in the raw crawl."""
    for job in jobs:
        if job.outcome is not None and job.index is None:
            entry = job.entry.model_copy(update={"fields": dict(job.outcome.fields)})
            digest.insert(_position(digest, job), entry, raw=job.raw)


def _position(digest: Digest, job: Job) -> int:
    """After the nearest paper that precedes this one in the raw crawl and is in the digest now."""
    positions = {e.id: i for i, e in enumerate(digest.entries)}
    for paper_id in reversed(job.raw_order[: job.raw_index]):
        if paper_id in positions:
            return positions[paper_id] + 1
    return 0 if positions else len(digest.entries)
