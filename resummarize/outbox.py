"""Files waiting for their last answer: each is written the moment its last job is settled, then let go.

The engine registers a file's jobs when it reaches the file and settles each job as its answer (or its
failure) arrives; the file is written as soon as nothing of it is pending, so memory holds only the
digests with work in flight. `write_file` is the one write step: apply the validated answers to the
digest as it is on disk, back it up when asked, and replace it atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resummarize.config import RepairOptions
from resummarize.digest import load_digest
from resummarize.digest.model import Digest
from resummarize.errors import InputError
from resummarize.plan import Job, PlannedFile, fingerprint
from resummarize.report import EntryResult, RepairReport
from resummarize.writer import backup, write_atomic


@dataclass
class FileWork:
    """One file's jobs while they are in flight; `digest` is the copy read when the run reached the file
    (None after a batch pass let it go: it is read again, and checked, to be written)."""

    planned: PlannedFile
    jobs: list[Job]
    digest: Digest | None = None
    pending: int = 0
    written: bool = False


class Outbox:
    """The files with work in flight, written one by one as they complete."""

    def __init__(self, options: RepairOptions, report: RepairReport) -> None:
        self.options = options
        self.report = report
        self._open: dict[int, FileWork] = {}

    def open(self, planned: PlannedFile, jobs: list[Job], digest: Digest | None) -> None:
        self._open[planned.index] = FileWork(planned, jobs, digest, pending=len(jobs))

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
            digest = work.digest if work.digest is not None else _reread(work.planned)
            apply(digest, done)
            write_file(digest, self.options, self.report)
        except InputError as exc:  # changed meanwhile, or cannot be written: its answers stay journaled
            for job in done:
                job.outcome = None
                self.report.record(EntryResult(id=job.entry.id, path=job.path, status="failed", attempts=0,
                                               error=str(exc)))
                self.report.totals.repaired -= 1


def _reread(planned: PlannedFile) -> Digest:
    digest = load_digest(planned.path)
    if fingerprint(digest) != planned.sha256:
        raise InputError(planned.path, "changed on disk during the run; run again to repair it "
                         "(the answers are in the journal)")
    return digest


def apply(digest: Digest, jobs: Sequence[Job]) -> None:
    """Write each validated answer into the digest: fields replaced in place, restored papers inserted
    after the paper that precedes them in the raw crawl."""
    for job in jobs:
        if job.outcome is not None and job.index is not None:
            digest.set_fields(job.index, {k: job.outcome.fields[k] for k in job.apply})
    for job in jobs:
        if job.outcome is not None and job.index is None:
            entry = job.entry.model_copy(update={"fields": dict(job.outcome.fields)})
            digest.insert(_position(digest, job), entry, raw=job.raw)


def _position(digest: Digest, job: Job) -> int:
    """After the nearest paper that precedes this one in the raw crawl and is already in the digest."""
    positions = {e.id: i for i, e in enumerate(digest.entries)}
    for paper_id in reversed(job.raw_order[: job.raw_index]):
        if paper_id in positions:
            return positions[paper_id] + 1
    return 0 if positions else len(digest.entries)


def write_file(digest: Digest, options: RepairOptions, report: RepairReport) -> None:
    """The write step: `--out` or the file itself, a backup first when asked, atomically."""
    assert digest.path is not None
    target: Path = options.out or digest.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if options.backup and target == digest.path:
        backup(digest.path)
    write_atomic(target, digest.to_bytes())
    report.written.append(str(target))
