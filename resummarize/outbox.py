"""Files waiting for their last answer: each is written the moment its last job is settled, then let go.

The engine registers a file's jobs when it reaches the file and settles each job as its answer (or its
failure) arrives; the file is written (through `rewrite`, the one door of the write path) as soon as
nothing of it is pending, so memory holds only the digests with work in flight. What the write did is
told to the report here. A file another program holds open for writing is set aside and written when
the run ends, waiting for that program then.
"""

from __future__ import annotations

from dataclasses import dataclass

from resummarize.config import RepairOptions
from resummarize.digest.model import Digest
from resummarize.plan import Job, PlannedFile
from resummarize.report import RepairReport
from resummarize.rewrite import Reading, Rewritten, rewrite

#: How long the end of a run waits for a program that holds a digest open for writing to close it.
WRITER_WAIT = 30.0


@dataclass
class FileWork:
    """One file's jobs while they are in flight, and what the file held when the run read it."""

    reading: Reading
    jobs: list[Job]
    pending: int = 0


class Outbox:
    """The files with work in flight, written one by one as they complete."""

    def __init__(self, options: RepairOptions, report: RepairReport) -> None:
        self.options = options
        self.report = report
        self._open: dict[int, FileWork] = {}
        self._busy: list[FileWork] = []

    def open(self, planned: PlannedFile, jobs: list[Job], digest: Digest, *, keep: bool = True) -> None:
        """Hold `digest` until its jobs settle, or (`keep=False`, a batch pass) only what it held."""
        reading = Reading.of(planned, digest, jobs, keep=keep)
        self._open[planned.index] = FileWork(reading, jobs, pending=len(jobs))

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
        """The run's end (or a stop): write what was validated in every file still open, and the files set
        aside while another program was writing them, waiting for it now."""
        for work in list(self._open.values()):
            self._close(work)
        busy, self._busy = self._busy, []
        for work in busy:
            self._write(work, [job for job in work.jobs if job.outcome is not None], wait=WRITER_WAIT)

    def _close(self, work: FileWork) -> None:
        del self._open[work.reading.planned.index]
        done = [job for job in work.jobs if job.outcome is not None]
        if done:
            self._write(work, done, wait=0.0)

    def _write(self, work: FileWork, done: list[Job], *, wait: float) -> None:
        result = rewrite(work.reading, done, self.options, wait=wait)
        if result.busy and not wait:
            self._busy.append(work)
            return
        self._tell(result, done)

    def _tell(self, result: Rewritten, done: list[Job]) -> None:
        """The report learns what the write did: the file written, and each answer that did not land."""
        path = str(result.path)
        if result.left_alone is not None:  # nothing written: every answer stays in the journal only
            for job in done:
                job.outcome = None
                self.report.revoke(job.entry.id, path, result.left_alone)
            return
        for paper_id in result.changed:
            self.report.revoke(paper_id, path, "changed on disk by another writer during the repair: left as it "
                               "is now (the answer is in the journal)")
        for paper_id in result.removed:
            self.report.revoke(paper_id, path, "removed from the file by another writer during the repair: not "
                               "brought back (the answer is in the journal)", status="removed")
        assert result.target is not None
        self.report.written.append(str(result.target))
        if result.reread or result.carried:
            self.report.merged.append(path)
