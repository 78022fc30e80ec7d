"""The write path in one place: a digest's validated answers in, the bytes on disk, and what happened.

`rewrite` is the one door. It reads top-down:

1. the edits: each answer applied to the digest as the run read it, or (when the file changed since,
   or a batch pass let the digest go) to what the file holds now, matched by paper id;
2. the bytes are handed to `writer.replace`, the leaf that swaps them in atomically and keeps the file's
   metadata, unless the file no longer holds what the edits were made on;
3. when it no longer does (another writer appended a line, rewrote an entry, or wrote into the old file
   while it was being replaced), the edits are made again on what it holds now, and step 2 is retried;
4. what was written, read again, carried over, changed or removed by another writer, or left alone is
   returned as a `Rewritten` value; the caller reports it.

A file that no longer holds the papers it held when read was swapped for another (another day's digest
renamed over it): it is left alone, never mixed with this one's answers. A file another program holds
open for writing is not replaced while it is: the rename would strand whatever that program writes next
in the file it replaced. The caller is told (`busy`) and may call again, waiting this time (`wait`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resummarize.config import RepairOptions
from resummarize.digest import load_digest
from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.markdown import MarkdownDigest
from resummarize.digest.model import Digest, Entry
from resummarize.errors import InputError
from resummarize.plan import Job, PlannedFile
from resummarize.writer import Snapshot, backup, open_writers, replace, write_atomic

#: How many times the edits are made again on a file that keeps changing under the write.
TRIES = 5
#: How often a program holding the file open for writing is looked for again while it is waited for.
WRITER_POLL = 0.1


@dataclass(frozen=True)
class Reading:
    """What a digest held when the run read it: the edits are made again on it if it changed since."""

    planned: PlannedFile
    snapshot: Snapshot
    #: By the entry's index when read: the entry as it was, and which occurrence of its id it was.
    originals: dict[int, tuple[Entry, int]]
    #: Every paper id it held: a file that holds too few of them now is another file.
    ids: frozenset[str]
    format: str
    #: The digest itself, kept while its answers arrive (None: a batch pass let it go; read again).
    digest: Digest | None = None

    @classmethod
    def of(cls, planned: PlannedFile, digest: Digest, jobs: Sequence[Job], *, keep: bool = True) -> Reading:
        """Taken before any answer is applied to `digest` (its bytes are still those read)."""
        edited = {job.index for job in jobs if job.index is not None}
        seen: dict[str, int] = {}
        originals = {}
        for index, entry in enumerate(digest.entries):
            rank = seen[entry.id] = seen.get(entry.id, -1) + 1
            if index in edited:
                originals[index] = (entry.model_copy(deep=True), rank)
        return cls(planned, Snapshot.of(digest.to_bytes()), originals, frozenset(seen), digest.format,
                   digest if keep else None)


@dataclass(frozen=True)
class Rewritten:
    """What `rewrite` did to one file."""

    path: Path
    #: Where the bytes went (the file, or `--out`); None when the file was left alone.
    target: Path | None = None
    #: The file had changed since it was read: the answers were applied to what it held then.
    reread: bool = False
    #: Bytes another writer added to the file while it was being replaced, carried into the new one.
    carried: int = 0
    #: Papers whose answer is in the file.
    applied: tuple[str, ...] = ()
    #: Papers whose entry another writer changed meanwhile: left as that writer left them.
    changed: tuple[str, ...] = ()
    #: Papers whose entry another writer removed meanwhile: not brought back.
    removed: tuple[str, ...] = ()
    #: Why nothing was written, as one line naming the file (the answers stay in the journal), or None.
    left_alone: str | None = None
    #: Left alone because another program holds the file open for writing: worth another call, waiting.
    busy: bool = False


@dataclass
class _Edits:
    """The bytes to write and, paper by paper, what became of the answers."""

    data: bytes = b""
    applied: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def rewrite(reading: Reading, jobs: Sequence[Job], options: RepairOptions, *, wait: float = 0.0) -> Rewritten:
    """Write the answers of `jobs` into the file `reading` describes (or `--out`); never raises for the
    file: what could not be done is in the value. A file another program holds open for writing is
    waited for up to `wait` seconds, then left alone (`busy`)."""
    path = reading.planned.path
    try:
        if options.out is not None:
            edits, _ = _first_edits(reading, jobs)
            options.out.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(options.out, edits.data)
            return _done(path, options.out, edits)
        holder = _writer_after(path, wait)
        if holder is not None:
            return Rewritten(path, busy=True, left_alone=(
                f"{path}: held open for writing by {holder}; not written, so that nothing it writes is lost "
                "(the answers are in the journal: run again once it is done)"))
        if options.backup:
            backup(path)
        return _replace(reading, jobs)
    except InputError as exc:
        return Rewritten(path, left_alone=str(exc))


def _replace(reading: Reading, jobs: Sequence[Job]) -> Rewritten:
    """Replace the file with the edits; each time it no longer holds what they were made on, make them
    again on what it holds now (bytes written into the old file during the rename included)."""
    path = reading.planned.path
    edits, expect = _first_edits(reading, jobs)
    reread, carried = reading.digest is None, 0
    for _ in range(TRIES):
        landing = replace(path, edits.data, expect)
        if landing.replaced and landing.late == 0:
            return _done(path, path, edits, reread=reread, carried=carried)
        if landing.replaced:  # another writer wrote into the old file after the check: carry it over
            carried += landing.late
            expect = Snapshot.of(edits.data)
        else:
            expect = Snapshot.of(landing.current)
        edits, reread = _redo(landing.current, reading, jobs), True
    raise InputError(path, "keeps changing on disk; not written (the answers are in the journal)")


def _first_edits(reading: Reading, jobs: Sequence[Job]) -> tuple[_Edits, Snapshot]:
    """The edits on the digest as read or, when it was let go, on what the file holds now; and what the
    file must still hold for them to be written."""
    if reading.digest is None:
        current = load_digest(reading.planned.path).to_bytes()
        return _redo(current, reading, jobs), Snapshot.of(current)
    return _apply(reading.digest, jobs), reading.snapshot


def _apply(digest: Digest, jobs: Sequence[Job]) -> _Edits:
    """Each answer into the digest as it was read: fields replaced in place, restored papers inserted."""
    edits = _Edits()
    for job in jobs:
        if job.outcome is not None and job.index is not None:
            digest.set_fields(job.index, {k: job.outcome.fields[k] for k in job.apply})
            edits.applied.append(job.entry.id)
    edits.applied += _insert_restored(digest, jobs)
    edits.data = digest.to_bytes()
    return edits


def _redo(current: bytes, reading: Reading, jobs: Sequence[Job]) -> _Edits:
    """Each answer applied by paper id to `current`, what the file holds now: an entry changed meanwhile
    is left as it is, one removed is not brought back, a restored paper already there is not added."""
    path = reading.planned.path
    fresh: Digest = (JsonlDigest if reading.format == "jsonl" else MarkdownDigest).parse(current, path)
    where: dict[str, list[int]] = {}
    for index, entry in enumerate(fresh.entries):
        where.setdefault(entry.id, []).append(index)
    kept = len(reading.ids & where.keys())
    if kept * 2 < len(reading.ids):
        raise InputError(path, f"replaced by another file while it was being repaired (it holds {kept} of the "
                               f"{len(reading.ids)} papers it held): left alone (the answers are in the journal)")
    edits, inserts = _Edits(), []
    for job in jobs:
        if job.outcome is None:
            continue
        if job.index is None:
            if job.entry.id not in where:
                inserts.append(job)
            continue
        then, rank = reading.originals[job.index]
        found = where.get(job.entry.id, [])
        answer = {k: job.outcome.fields[k] for k in job.apply}
        if rank >= len(found):
            edits.removed.append(job.entry.id)
        elif _same(fresh.entries[found[rank]], then):
            fresh.set_fields(found[rank], answer)
            edits.applied.append(job.entry.id)
        elif _same(fresh.entries[found[rank]], then.model_copy(update={"fields": {**then.fields, **answer}})):
            edits.applied.append(job.entry.id)  # our own write, which another writer's bytes followed
        else:
            edits.changed.append(job.entry.id)
    edits.applied += _insert_restored(fresh, inserts)
    edits.data = fresh.to_bytes()
    return edits


def _same(now: Entry, then: Entry) -> bool:
    keep = {"id", "title", "abstract", "authors", "categories", "fields"}
    return now.model_dump(include=keep) == then.model_dump(include=keep)


def _insert_restored(digest: Digest, jobs: Sequence[Job]) -> list[str]:
    """Insert each answered restored paper after the paper that precedes it in the raw crawl."""
    inserted = []
    for job in jobs:
        if job.outcome is not None and job.index is None:
            entry = job.entry.model_copy(update={"fields": dict(job.outcome.fields)})
            digest.insert(_position(digest, job), entry, raw=job.raw)
            inserted.append(job.entry.id)
    return inserted


def _position(digest: Digest, job: Job) -> int:
    """After the nearest paper that precedes this one in the raw crawl and is in the digest now."""
    positions = {e.id: i for i, e in enumerate(digest.entries)}
    for paper_id in reversed(job.raw_order[: job.raw_index]):
        if paper_id in positions:
            return positions[paper_id] + 1
    return 0 if positions else len(digest.entries)


def _writer_after(path: Path, wait: float) -> str | None:
    """Another program holding the file open for writing after up to `wait` seconds, or None."""
    deadline = time.monotonic() + wait
    while holder := open_writers([path]).get(path):
        if time.monotonic() >= deadline:
            return holder
        time.sleep(WRITER_POLL)
    return None


def _done(path: Path, target: Path, edits: _Edits, *, reread: bool = False, carried: int = 0) -> Rewritten:
    return Rewritten(path, target, reread, carried, tuple(edits.applied), tuple(edits.changed),
                     tuple(edits.removed))
