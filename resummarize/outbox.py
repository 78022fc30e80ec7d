"""Files waiting for their last answer: each is written the moment its last job is settled, then let go.

The engine registers a file's jobs when it reaches the file and settles each job as its answer (or its
failure) arrives; the file is written as soon as nothing of it is pending, so memory holds only the
digests with work in flight. `write_file` is the one write step: back the file up when asked and
replace it atomically, unless another writer changed it since it was read: then the validated answers
are applied again, by paper id, to what it holds now (see `rebase`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resummarize.config import RepairOptions
from resummarize.digest import load_digest
from resummarize.digest.model import Digest
from resummarize.errors import InputError
from resummarize.plan import Job, PlannedFile
from resummarize.rebase import Source, capture, insert_restored, reapply
from resummarize.report import RepairReport
from resummarize.writer import Snapshot, backup, commit, write_atomic


@dataclass
class FileWork:
    """One file's jobs while they are in flight; `digest` is the copy read when the run reached the file
    (None after a batch pass let it go: it is read again, and checked, to be written)."""

    planned: PlannedFile
    jobs: list[Job]
    #: What the file held when its jobs were planned: the edits are redone on it if it changed since.
    source: Source
    digest: Digest | None = None
    pending: int = 0
    written: bool = False


class Outbox:
    """The files with work in flight, written one by one as they complete."""

    def __init__(self, options: RepairOptions, report: RepairReport) -> None:
        self.options = options
        self.report = report
        self._open: dict[int, FileWork] = {}

    def open(self, planned: PlannedFile, jobs: list[Job], digest: Digest, *, keep: bool = True) -> None:
        """Hold `digest` until its jobs settle, or (`keep=False`, a batch pass) only what it held."""
        work = FileWork(planned, jobs, capture(digest, jobs), digest if keep else None, pending=len(jobs))
        self._open[planned.index] = work

    def __len__(self) -> int:
        return len(self._open)

    def settle(self, job: Job) -> None:
        """One job answered or failed; the file is written when it was its last."""
        work = self._open.get(job.file.index)
        if work is None:
            return
        work.pending -= 1
        if work.pending <= 0:
            self._close(work)

    def pending(self) -> list[Job]:
        """Every job of the open files still without an answer."""
        return [job for work in self._open.values() for job in work.jobs if job.outcome is None]

    def flush(self) -> None:
        """A stopped run: write what was validated in every file still open."""
        for work in list(self._open.values()):
            self._close(work)

    def _close(self, work: FileWork) -> None:
        del self._open[work.planned.index]
        done = [job for job in work.jobs if job.outcome is not None]
        if not done:
            return
        try:
            write_file(work, done, self.options, self.report)
        except InputError as exc:  # cannot be read again or written: its answers stay journaled
            for job in done:
                job.outcome = None
                self.report.revoke(job.entry.id, job.path, str(exc))


def apply(digest: Digest, jobs: Sequence[Job]) -> None:
    """Write each validated answer into the digest: fields replaced in place, restored papers inserted
    after the paper that precedes them in the raw crawl."""
    for job in jobs:
        if job.outcome is not None and job.index is not None:
            digest.set_fields(job.index, {k: job.outcome.fields[k] for k in job.apply})
    insert_restored(digest, jobs)


def write_file(work: FileWork, done: Sequence[Job], options: RepairOptions, report: RepairReport) -> None:
    """The write step: `--out`, or the file itself (a backup first when asked), atomically; a file
    another writer changed since it was read gets the answers applied to what it holds now."""
    path = work.planned.path
    digest = work.digest if work.digest is not None else load_digest(path)
    fmt, source = digest.format, work.source

    def redo(now: bytes) -> bytes:
        return reapply(now, path, fmt, done, source)

    if work.digest is not None:
        apply(digest, done)
        data, read_as = digest.to_bytes(), source.snapshot
    else:  # a batch pass let it go: the edits are made on what the file holds now
        current = digest.to_bytes()
        data, read_as = redo(current), Snapshot.of(current)
    target: Path = options.out or path
    if options.out is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
    else:
        if options.backup:
            backup(path)
        commit(path, data, read_as, redo)
    for paper_id in source.changed:
        report.revoke(paper_id, str(path), "changed on disk by another writer during the repair: left as it "
                      "is now (the answer is in the journal)")
    report.written.append(str(target))
