"""One lifecycle for every repair: plan -> answers -> files -> report.

`repair` is the single entry point for live, batch, dry-run and worker passes. A first pass plans every
input (a bad input stops the run before any request) and keeps only counts. The run then works file by
file: a file with work is read again, its answers come from the journal first, then (with `--batch`)
from the Batch API, then live, one request per distinct question across files; the file is written the
moment its last answer is validated, and let go. Every validated answer goes to the journal the moment it
arrives. The pool stays full across file boundaries: a worker that finds no question waiting plans the
next file. The first live request is streamed, and the pool fans out as soon as its response headers
prove the key, the model and the output mode.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from resummarize.config import RepairOptions
from resummarize.contentcheck import ContentCheck, journaled
from resummarize.cost import run_cost
from resummarize.digest import iter_digest_paths
from resummarize.digest.model import Digest
from resummarize.errors import (
    InputError,
    ProviderError,
    ReportError,
    RunStopped,
    SummaryError,
    UsageError,
)
from resummarize.estimate import Estimate
from resummarize.journal import Journal, default_path
from resummarize.language import preload_classifier
from resummarize.lock import hold
from resummarize.outbox import Outbox
from resummarize.plan import Job, PlannedFile, Run, prepare, questions, replan
from resummarize.provider.prompts import PromptSet, load_prompts
from resummarize.provider.request import Outcome
from resummarize.provider.retry import outage_reason
from resummarize.report import EntryResult, RepairReport
from resummarize.rerender import rerender_restored
from resummarize.writer import check_targets

if TYPE_CHECKING:
    import openai

    from resummarize.provider.summarize import Summarizer

__all__ = ["Engine", "RepairOptions", "Run", "repair"]

#: A run whose first few papers all fail the same way is misconfigured: stop instead of burning on.
BREAKER = 3


async def repair(
    paths: Sequence[Path | str],
    options: RepairOptions | None = None,
    *,
    client: openai.AsyncOpenAI | None = None,
    journal: Journal | Path | None = None,
    prompts: PromptSet | None = None,
    on_result: Callable[[EntryResult], None] | None = None,
    on_plan: Callable[[Run], None] | None = None,
    on_file: Callable[[PlannedFile], None] | None = None,
    on_lock: Callable[[Path], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> RepairReport:
    """Repair the digests under `paths`: the whole run, live, through the Batch API or as a dry run.

    `journal` is an open journal, a path to one, or None for the default in the user cache folder.
    `on_file` hears of each input as the first pass plans it, `on_plan` of the whole plan.
    Each file is locked for the whole run (as the worker locks it): a file another run holds is waited
    for, or left out with `options.wait_for_lock` False; `on_lock` is told of each such file. `on_wait`
    hears of every wait the provider asks for (a line saying how long and which header asked).
    Validated answers are written even when a fatal provider error ends the run; the `ProviderError`
    (any `RunStopped`) then carries the report. Raises `BatchPending` (nothing written) while a batch
    runs without `wait`.
    """
    options = options or RepairOptions()
    inputs = [Path(p) for p in paths]
    files = [] if options.dry_run else list(iter_digest_paths(inputs))
    async with hold(files, wait=options.wait_for_lock, on_wait=on_lock) as held:
        for path in files if not options.wait_for_lock else []:
            if path not in held and on_lock is not None:
                on_lock(path)
        if files and not held:
            return RepairReport()
        return await _repair(held or inputs, options, client=client, journal=journal, prompts=prompts,
                             on_result=on_result, on_plan=on_plan, on_file=on_file, on_wait=on_wait, stop=stop)


async def _repair(
    paths: Sequence[Path],
    options: RepairOptions,
    *,
    client: openai.AsyncOpenAI | None,
    journal: Journal | Path | None,
    prompts: PromptSet | None,
    on_result: Callable[[EntryResult], None] | None,
    on_plan: Callable[[Run], None] | None,
    on_file: Callable[[PlannedFile], None] | None,
    on_wait: Callable[[str], None] | None,
    stop: threading.Event | None,
) -> RepairReport:
    prompts = prompts or load_prompts()
    started = time.monotonic()
    with _journal(journal, options.dry_run) as db:
        if options.dry_run:
            estimate = Estimate(db, prompts)
            run = prepare(list(paths), options, prompts, on_file=on_file, on_jobs=estimate)
            estimate.settle(run.report, options)
            if on_plan is not None:
                on_plan(run)
            _write_report(run.report, options)
            return run.report
        run = prepare(list(paths), options, prompts, on_file=on_file)
        targets = {options.out or f.path for f in run.files if f.work}
        check_targets(targets, options.report, backup=options.backup and options.out is None)
        if on_plan is not None:
            on_plan(run)
        if client is None:
            raise UsageError("no client: an API key or --replay is needed")
        engine = Engine(client, db, prompts, options, run.report, on_result=on_result, on_wait=on_wait, stop=stop)
        try:
            await engine.run(run)
        except* RunStopped as group:  # a provider error (a replay miss too), a journal that cannot be written
            raise _stopped(engine, run, options, started, group) from None
    _finish(run, options, started)
    return run.report


@contextmanager
def _journal(given: Journal | Path | None, dry_run: bool) -> Iterator[Journal]:
    """The journal to use; one opened here is closed here. A dry run only reads: it creates no file."""
    if isinstance(given, Journal):
        yield given
        return
    path = given or default_path()
    with Journal(Path(":memory:") if dry_run and not path.exists() else path) as journal:
        yield journal


class Engine:
    """Gets an answer for every job of a run, file by file: from the journal, the Batch API, or live."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        journal: Journal,
        prompts: PromptSet,
        options: RepairOptions,
        report: RepairReport,
        *,
        on_result: Callable[[EntryResult], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        from resummarize.provider.summarize import Summarizer, remembered
        from resummarize.provider.throttle import Throttle

        self.client = client
        self.journal = journal
        self.prompts = prompts
        self.options = options
        self.report = report
        self.on_result = on_result
        self.stop = stop or threading.Event()
        self.summarizer: Summarizer = Summarizer(
            client, model=options.model, prompts=prompts, placeholders=options.settings.placeholders(),
            throttle=Throttle(options.concurrency, options.rpm, deadline=options.timeout, max_wait=options.max_wait,
                              on_wait=on_wait), negotiator=remembered(journal, client, options.model),
            reasks=options.reasks, attempts=options.attempts, timeout=options.timeout,
        )
        self.outbox = Outbox(options, report)
        self._failures: list[str] = []
        self._successes = 0
        self._files: deque[PlannedFile] = deque()
        self._queue: deque[list[Job]] = deque()
        self._asking: dict[str, list[Job]] = {}  # questions in flight or queued, by key digest
        #: The pipeline's content check, when one is set: what it blocks is never written.
        self.check = ContentCheck(options.content_check, timeout=options.timeout) if options.content_check else None

    async def run(self, run: Run) -> None:
        """Every file with work, in order: through a batch first when asked for, then live."""
        self._files = deque(f for f in run.files if f.work)
        if self.options.batch and self._files:
            await self._batch_pass()
        async with self.check.opened() if self.check else nullcontext():
            await self.ask()

    async def _batch_pass(self) -> None:
        """One batch for every question the journal cannot answer; files it completes are written."""
        from resummarize.batch import ask_batch

        asked: list[Job] = []
        for planned in self._files:
            digest, jobs = self._replan(planned)
            if digest is None or jobs is None:
                continue
            self.outbox.open(planned, jobs, digest, keep=False)  # read again when the file is written
            asked += [job for job in jobs if not self.from_journal(job)]
        self._files.clear()
        if asked:  # what the batch leaves unanswered goes on live only with finish_live (else it raises)
            await ask_batch(asked, client=self.client, journal=self.journal, summarizer=self.summarizer,
                            options=self.options, record=self.answered, totals=self.report.totals)
        left = [job for job in asked if job.outcome is None]
        for group in questions(left):
            self._asking[group[0].key.digest()] = group
            self._queue.append(group)

    def _replan(self, planned: PlannedFile) -> tuple[Digest | None, list[Job] | None]:
        try:
            return replan(planned, self.options, self.prompts)
        except InputError as exc:  # changed since the first pass: its entries fail, the run goes on
            self._emit(EntryResult(id="*", path=str(planned.path), status="failed", attempts=0, error=str(exc)))
            return None, None

    def _next(self) -> list[Job] | None:
        """The next question to ask; when none is waiting, the next file with work is read and planned
        (journal answers settle at once, a question already asked for another file joins it)."""
        while not self._queue and self._files:
            planned = self._files.popleft()
            digest, jobs = self._replan(planned)
            if digest is None or jobs is None:
                continue
            self.outbox.open(planned, jobs, digest)
            for job in jobs:
                if self.from_journal(job):
                    continue
                group = self._asking.get(job.key.digest())
                if group is not None:
                    group.append(job)  # the same paper listed on another day: one request serves both
                else:
                    group = self._asking[job.key.digest()] = [job]
                    self._queue.append(group)
        return self._queue.popleft() if self._queue else None

    def from_journal(self, job: Job) -> bool:
        """Serve a job from the journal (counted as cached); False when it must be asked."""
        outcome = None if self.check else journaled(self.journal, self.summarizer, job)
        if outcome is None:  # none, or one the content check must see first (`_one`)
            return False
        job.outcome = outcome
        self.report.cached += 1
        self._emit(job.written(attempts=0))
        self.outbox.settle(job)
        return True

    async def ask(self) -> None:
        """Ask live; the first question alone until its response proves the key, model and mode."""
        first = None if self.stop.is_set() else self._next()
        if first is not None:
            proved = asyncio.Event()
            async with asyncio.TaskGroup() as group:
                asking = [group.create_task(self._lead(first, proved))]
                group.create_task(self._bound(asking))
                await proved.wait()  # set by the probe's headers, or when it ended either way
                await asyncio.sleep(0)  # a probe that failed fatally cancels the group here
                asking += [group.create_task(self._worker()) for _ in range(self.options.concurrency - 1)]
                # Answers may need the language classifier: it loads while they are awaited, not before
                # the first request (its imports would compete with the run's own start).
                preload_classifier(self.options.settings.preferred_language())
        self.outbox.flush()

    async def _bound(self, asking: list[asyncio.Task[None]]) -> None:
        """After a stop, requests in flight get `timeout` seconds to answer; then their papers are left."""
        while not self.stop.is_set():  # a threading.Event: a signal handler or another thread sets it
            if (await asyncio.wait(list(asking), timeout=0.1))[0] == set(asking):
                return
        _, late = await asyncio.wait(asking, timeout=self.options.timeout)
        for task in late:
            task.cancel()

    async def _lead(self, first: list[Job], proved: asyncio.Event) -> None:
        """The probe, then one worker like the others."""
        await self._one(first, proved)
        await self._worker()

    async def _worker(self) -> None:
        while not self.stop.is_set():  # a stop lets requests in flight finish
            jobs = self._next()
            if jobs is None:
                return
            await self._one(jobs)

    async def _one(self, jobs: list[Job], proved: asyncio.Event | None = None) -> None:
        """One question, from asking to a usable answer; it serves every job that asks it (a paper listed
        twice). With the pipeline's content check set, the check stands between the steps: a restored
        paper's abstract before the model is asked about it, every field of the answer (from the journal,
        else asked) before it is used; a problem blocks every job of the question, and a later run asks again."""
        if self.check is None:
            if (outcome := await self.asked(jobs, proved)) is not None:
                self.answered(jobs, outcome)
            return
        first = jobs[0]
        problem = await self.check.problem([first.entry.abstract]) if first.index is None else None
        outcome = None if problem is not None else journaled(self.journal, self.summarizer, first)
        if outcome is not None:
            self.report.cached += len(jobs)
        elif problem is None:
            outcome = await self.asked(jobs, proved)
            if outcome is None:
                return  # failed, and reported so
            self.journal.put(first.key, outcome.fields)  # paid for: kept whatever the check says
        if proved is not None:
            proved.set()  # set by `asked` already when it asked; not when journaled or blocked
        self._asking.pop(first.key.digest(), None)
        if outcome is not None and (problem := await self.check.problem(outcome.fields.values())) is None:
            self._use(jobs, outcome)  # journaled already
            return
        for job in jobs:
            self._emit(EntryResult(id=job.entry.id, path=job.path, status="blocked",
                                   attempts=outcome.attempts if outcome else 0, error=problem))
            self.outbox.settle(job)

    async def asked(self, jobs: list[Job], proved: asyncio.Event | None = None) -> Outcome | None:
        try:
            outcome = await self.summarizer.summarize(jobs[0].request, proved=proved)
        except SummaryError as exc:
            self._asking.pop(jobs[0].key.digest(), None)
            self.report.totals.add(exc.usage)
            for job in jobs:
                self._emit(EntryResult(id=job.entry.id, path=job.path, status="failed", attempts=exc.attempts,
                                       error=exc.reason, note=job.request.note,
                                       reasons=list(job.reasons)))
                self.outbox.settle(job)
            self._trip(exc)
            return None
        finally:
            if proved is not None:
                proved.set()  # answered or failed: the others need not wait any longer
        self._successes += 1
        self.report.totals.add(outcome.usage)
        self._asking.pop(jobs[0].key.digest(), None)
        return outcome

    def answered(self, jobs: list[Job], outcome: Outcome) -> None:
        """A validated answer: given to every job that asked for it, then journaled at once. When the
        journal cannot take it (`JournalError` stops the run), the answer is still written to the digest."""
        self._use(jobs, outcome)
        self.journal.put(jobs[0].key, outcome.fields)

    def _use(self, jobs: list[Job], outcome: Outcome) -> None:
        """Give an answer to every job that asked for it: reported, and written with its file."""
        for job in jobs:
            job.outcome = outcome
            self._emit(job.written(attempts=outcome.attempts, note=job.request.note))
            self.outbox.settle(job)

    def _trip(self, exc: SummaryError) -> None:
        if self._successes:
            return
        self._failures.append(exc.reason)
        if len(self._failures) >= BREAKER and len(set(self._failures)) == 1:
            raise ProviderError(
                f"the first {BREAKER} papers all failed the same way ({exc.reason}); stopping the run",
                requests=self.report.totals.requests, outage=outage_reason(exc.reason),
            ) from exc

    def _emit(self, result: EntryResult) -> None:
        """Record one entry's outcome and tell the caller (a progress bar, a worker's log)."""
        self.report.record(result)
        if self.on_result is not None:
            self.on_result(result)

    def unfinished(self, reason: str) -> None:
        """A fatal stop: name every entry left unrepaired (files not reached are planned again to list
        them), after writing what was validated."""
        left = self.outbox.pending()
        self.outbox.flush()
        done = {(e.id, e.path) for e in self.report.entries}
        for planned in self._files:
            with suppress(InputError):
                left += replan(planned, self.options, self.prompts)[1]
        for job in left:
            if job.outcome is None and (job.entry.id, job.path) not in done:
                done.add((job.entry.id, job.path))
                spent = self.summarizer.abandoned.pop(job.request.paper_id, None)
                if spent is not None:
                    self.report.totals.add(spent)
                made = spent.requests if spent is not None else 0
                self.report.record(EntryResult(
                    id=job.entry.id, path=job.path, status="failed", attempts=made, reasons=list(job.reasons),
                    error=f"stopped after {made} request(s): {reason}" if made else f"not attempted: {reason}"))


def _finish(run: Run, options: RepairOptions, started: float) -> None:
    report, t = run.report, run.report.totals
    report.wall_time = time.monotonic() - started
    t.cost_usd, t.rates = run_cost(t, t.batch, options.model, options.prices)
    report.rendered = rerender_restored(report, options.settings.preferred_language())  # DATE.md too
    _write_report(report, options)


def _write_report(report: RepairReport, options: RepairOptions) -> None:
    """The report file, in folders made as needed (like `--out`'s and the journal's: `check_targets`
    found before the first request that they can be); failing after digests were written is a
    `ReportError`, not an input error."""
    if options.report is None:
        return
    from resummarize.writer import write_atomic

    try:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(options.report, report.to_json().encode())
    except OSError as exc:
        raise ReportError(options.report, exc.strerror or str(exc), written=len(report.written)) from exc
    except InputError as exc:
        raise ReportError(options.report, exc.message, written=len(report.written)) from exc


def _stopped(
    engine: Engine, run: Run, options: RepairOptions, started: float, group: BaseExceptionGroup[RunStopped]
) -> RunStopped:
    """A fatal stop keeps what was validated and names every entry left unrepaired in its report."""
    fatal = group.exceptions[0]
    assert isinstance(fatal, RunStopped)
    engine.unfinished(str(fatal))
    try:
        _finish(run, options, started)
    except ReportError as exc:  # the stop is what the user must hear about; the report's fate goes with it
        fatal.args = (f"{fatal}; and {exc}",)
    fatal.requests = run.report.totals.requests
    fatal.report = run.report
    return fatal
