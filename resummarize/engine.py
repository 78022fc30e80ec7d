"""One lifecycle for every repair: plan -> answers -> files -> report.

`repair` is the single entry point for live, batch, dry-run and worker passes. Answers come from the
journal first, then (with `--batch`) from the Batch API, then live, one request per distinct question;
every validated answer goes to the journal the moment it arrives. Files are written only at the end,
atomically, and only when they changed, also when a fatal provider error stops the run. The first live
request goes alone (it proves the key and settles the structured-output mode), then the pool fans out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import openai

from resummarize.batch import ask_batch, batch_cost_note
from resummarize.config import RepairOptions
from resummarize.digest import iter_digest_paths
from resummarize.digest.model import Digest
from resummarize.errors import (
    InputError,
    ProviderError,
    ReportError,
    RunStopped,
    SummaryError,
    UsageError,
    ValidationFailure,
)
from resummarize.journal import Journal, default_path
from resummarize.lock import hold
from resummarize.plan import Job, Run, estimate, prepare, questions
from resummarize.provider.prompts import PromptSet, load_prompts
from resummarize.provider.request import Outcome
from resummarize.provider.summarize import Summarizer
from resummarize.provider.throttle import Throttle
from resummarize.provider.wire import Negotiator
from resummarize.rebase import Source, capture, reapply
from resummarize.report import EntryResult, RepairReport, Usage
from resummarize.writer import backup, check_targets, commit, write_atomic

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
    stop: threading.Event | None = None,
    on_lock: Callable[[Path], None] | None = None,
) -> RepairReport:
    """Repair the digests under `paths`: the whole run, live, through the Batch API or as a dry run.

    `journal` is an open journal, a path to one, or None for the default in the user cache folder.
    Each file is locked for the whole run (as the worker locks it): a file another run holds is waited
    for, or left out with `options.wait_for_lock` False; `on_lock` is told of each such file.
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
                             on_result=on_result, on_plan=on_plan, stop=stop)


async def _repair(
    paths: Sequence[Path],
    options: RepairOptions,
    *,
    client: openai.AsyncOpenAI | None,
    journal: Journal | Path | None,
    prompts: PromptSet | None,
    on_result: Callable[[EntryResult], None] | None,
    on_plan: Callable[[Run], None] | None,
    stop: threading.Event | None,
) -> RepairReport:
    prompts = prompts or load_prompts()
    started = time.monotonic()
    run = prepare(list(paths), options, prompts)
    targets = set() if options.dry_run else {options.out or Path(job.path) for job in run.jobs}
    check_targets(targets, options.report, backup=options.backup and options.out is None)
    if on_plan is not None:
        on_plan(run)
    with _journal(journal, options.dry_run) as db:
        if options.dry_run:
            estimate(run, db, prompts)
            if options.batch:
                run.report.note = batch_cost_note(run.report, options.model)
            _write_report(run.report, options)
            return run.report
        if client is None:
            raise UsageError("no client: an API key or --replay is needed")
        engine = Engine(client, db, prompts, options, run.report, on_result=on_result, stop=stop)
        try:
            await engine.answer(run)
        except* RunStopped as group:  # a provider error (a replay miss too), a journal that cannot be written
            raise _stopped(run, options, started, group) from None
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
    """Gets an answer for every job of a run: from the journal, the Batch API, or live requests."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        journal: Journal,
        prompts: PromptSet,
        options: RepairOptions,
        report: RepairReport,
        *,
        on_result: Callable[[EntryResult], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.options = options
        self.report = report
        self.on_result = on_result
        self.stop = stop or threading.Event()
        self.summarizer = Summarizer(
            client, model=options.model, prompts=prompts, placeholders=options.settings.placeholders(),
            throttle=Throttle(options.concurrency, options.rpm), negotiator=Negotiator(),
            reasks=options.reasks, attempts=options.attempts, timeout=options.timeout,
        )
        self._failures: list[str] = []
        self._successes = 0

    async def answer(self, run: Run) -> None:
        """Journal first, then the Batch API when asked for, then live for whatever is left."""
        asked = [job for job in run.jobs if not self.from_journal(job)]
        if self.options.batch and asked:
            await ask_batch(run.digests, asked, client=self.client, journal=self.journal,
                            summarizer=self.summarizer, options=self.options, record=self.answered,
                            count=self.report.totals.add)
        await self.ask([job for job in asked if job.outcome is None])

    def from_journal(self, job: Job) -> bool:
        """Serve a job from the journal (counted as cached); False when it must be asked."""
        fields = self.journal.get(job.key)
        if fields is None or set(fields) != set(job.request.keys):
            return False
        try:
            fields = self.summarizer.validate(job.request, fields)
        except ValidationFailure:
            return False  # stored under older rules that today's reject: ask again
        job.outcome = Outcome(fields=fields, attempts=0)
        self.report.cached += 1
        self._emit(EntryResult(id=job.entry.id, path=job.path, status="repaired", attempts=0))
        return True

    async def ask(self, jobs: Sequence[Job]) -> None:
        """Ask live; the same question is asked once per run, the first one alone."""
        live = deque(questions(jobs))
        if not live or self.stop.is_set():
            return
        await self._one(live.popleft())  # alone: proves the key, settles the mode
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.options.concurrency, len(live))):
                group.create_task(self._worker(live))

    async def _worker(self, queue: deque[list[Job]]) -> None:
        while queue and not self.stop.is_set():  # a stop lets requests in flight finish
            await self._one(queue.popleft())

    async def _one(self, jobs: list[Job]) -> None:
        """One question; its answer serves every job that asks it (a paper listed twice)."""
        try:
            outcome = await self.summarizer.summarize(jobs[0].request)
        except SummaryError as exc:
            self.report.totals.add(exc.usage)
            for job in jobs:
                self._emit(EntryResult(id=job.entry.id, path=job.path, status="failed",
                                       attempts=exc.attempts, error=exc.reason))
            self._trip(exc)
            return
        except ProviderError as exc:
            self.report.totals.add(Usage(requests=exc.requests))
            exc.requests = self.report.totals.requests
            raise
        self._successes += 1
        self.report.totals.add(outcome.usage)
        self.answered(jobs, outcome)

    def answered(self, jobs: list[Job], outcome: Outcome) -> None:
        """A validated answer: given to every job that asked for it, then journaled at once. When the
        journal cannot take it (`JournalError` stops the run), the answer is still written to the digest."""
        for job in jobs:
            job.outcome = outcome
            self._emit(EntryResult(id=job.entry.id, path=job.path, status="repaired", attempts=outcome.attempts))
        self.journal.put(jobs[0].key, outcome.fields)

    def _trip(self, exc: SummaryError) -> None:
        if self._successes:
            return
        self._failures.append(exc.reason)
        if len(self._failures) >= BREAKER and len(set(self._failures)) == 1:
            raise ProviderError(
                f"the first {BREAKER} papers all failed the same way ({exc.reason}); stopping the run",
                requests=self.report.totals.requests,
            ) from exc

    def _emit(self, result: EntryResult) -> None:
        """Record one entry's outcome and tell the caller (a progress bar, a worker's log)."""
        self.report.record(result)
        if self.on_result is not None:
            self.on_result(result)


def apply(run: Run) -> list[Digest]:
    """Write every validated answer into its digest; returns the digests that changed."""
    changed: dict[int, Digest] = {}
    for job in run.jobs:
        if job.outcome is None or job.index is None:
            continue
        job.digest.set_fields(job.index, {k: job.outcome.fields[k] for k in job.apply})
        changed[id(job.digest)] = job.digest
    for digest in run.digests:
        inserts = [j for j in run.jobs if j.digest is digest and j.index is None and j.outcome is not None]
        if inserts:
            _insert_missing(digest, inserts)
            changed[id(digest)] = digest
    return [d for d in run.digests if id(d) in changed]


def _insert_missing(digest: Digest, jobs: list[Job]) -> None:
    """Insert restored papers after the paper that precedes them in the raw crawl."""
    for job in jobs:
        assert job.outcome is not None
        entry = job.entry.model_copy(update={"fields": dict(job.outcome.fields)})
        digest.insert(_position(digest, job), entry, raw=job.raw)


def _position(digest: Digest, job: Job) -> int:
    """After the nearest paper that precedes this one in the raw crawl and is already in the digest."""
    positions = {e.id: i for i, e in enumerate(digest.entries)}
    for paper_id in reversed(job.raw_order[: job.raw_index]):
        if paper_id in positions:
            return positions[paper_id] + 1
    return 0 if positions else len(digest.entries)


def write(run: Run, options: RepairOptions, report: RepairReport) -> None:
    """Apply what was validated and write each digest that changed; one changed on disk meanwhile gets
    the answers applied to what it holds now (see `rebase`)."""
    jobs: dict[int, list[Job]] = {}
    for job in run.jobs:
        jobs.setdefault(id(job.digest), []).append(job)
    sources = {key: capture(group[0].digest, group) for key, group in jobs.items()
               if any(job.outcome is not None for job in group)}
    for digest in apply(run):
        assert digest.path is not None
        target = options.out or digest.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if options.out is not None:
            write_atomic(target, digest.to_bytes())
        else:
            if options.backup:
                backup(digest.path)
            _commit(digest, jobs[id(digest)], sources[id(digest)], report)
        report.written.append(str(target))


def _commit(digest: Digest, jobs: list[Job], source: Source, report: RepairReport) -> None:
    assert digest.path is not None
    path, fmt = digest.path, digest.format
    commit(path, digest.to_bytes(), source.snapshot, lambda now: reapply(now, path, fmt, jobs, source))
    for paper_id in source.changed:
        report.revoke(paper_id, str(path), "changed on disk by another writer during the repair: left as it "
                      "is now (the answer is in the journal)")


def _finish(run: Run, options: RepairOptions, started: float, stopped_by: str | None = None) -> None:
    """Apply what was validated, write the digests that changed, and the report file when asked."""
    write(run, options, run.report)
    if stopped_by is not None:
        _unfinished(run, stopped_by)
    run.report.wall_time = time.monotonic() - started
    _write_report(run.report, options)


def _write_report(report: RepairReport, options: RepairOptions) -> None:
    """The report file; failing after digests were written is a `ReportError`, not an input error."""
    if options.report is None:
        return
    try:
        write_atomic(options.report, report.to_json().encode())
    except InputError as exc:
        raise ReportError(options.report, exc.message, written=len(report.written)) from exc


def _unfinished(run: Run, reason: str) -> None:
    """List the entries a fatal stop left unrepaired, so the report names every one of them."""
    done = {(e.id, e.path) for e in run.report.entries}
    for job in run.jobs:
        if job.outcome is None and (job.entry.id, job.path) not in done:
            run.report.record(EntryResult(id=job.entry.id, path=job.path, status="failed", attempts=0,
                                          error=f"not attempted: {reason}"))


def _stopped(
    run: Run, options: RepairOptions, started: float, group: BaseExceptionGroup[RunStopped]
) -> RunStopped:
    """A fatal stop keeps what was validated and names every entry left unrepaired in its report."""
    fatal = group.exceptions[0]
    assert isinstance(fatal, RunStopped)
    try:
        _finish(run, options, started, stopped_by=str(fatal))
    except ReportError as exc:  # the stop is what the user must hear about; the report's fate goes with it
        fatal.args = (f"{fatal}; and {exc}",)
    fatal.requests = run.report.totals.requests
    fatal.report = run.report
    return fatal
