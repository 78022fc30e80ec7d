"""Orchestration: scan -> plan -> concurrent summarize -> apply -> atomic write -> report.

Every validated answer goes to the journal the moment it arrives; files are written only at the end,
atomically, and only when they changed. The first live request goes alone (it proves the key and
settles the structured-output mode), then the pool fans out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import openai
from pydantic import BaseModel

from resummarize.detect import EntryVerdict, Placeholders
from resummarize.digest import load_digest, read_raw_objects
from resummarize.digest.jsonl import entry_from, field_keys, printable
from resummarize.errors import ProviderError, SummaryError, UsageError
from resummarize.journal import AnswerKey, Journal
from resummarize.language import Language, resolve
from resummarize.model import FIELDS, Digest, Entry, canonical
from resummarize.prompts import PromptSet
from resummarize.report import EntryResult, RepairReport
from resummarize.scan import Plan, Settings, check_language, digest_paths, plan_digest
from resummarize.summarize import Negotiator, Outcome, Summarizer, SummaryRequest
from resummarize.throttle import Throttle
from resummarize.writer import backup, write_atomic

Strategy = Literal["regenerate", "translate"]
#: A run whose first few papers all fail the same way is misconfigured: stop instead of burning on.
BREAKER = 3
#: Rough completion size of a five-field answer, for the dry-run estimate.
COMPLETION_ESTIMATE = 300


class RepairOptions(BaseModel):
    settings: Settings = Settings()
    model: str = "gpt-4o-mini"
    strategy: Strategy = "regenerate"
    concurrency: int = 8
    rpm: int | None = None
    timeout: float = 60.0
    reasks: int = 4
    attempts: int = 6
    dry_run: bool = False
    out: Path | None = None
    backup: bool = False
    restore_missing: bool = False
    batch: bool = False


@dataclass
class Job:
    """One paper to ask about; `apply` names the file keys its answer will replace."""

    digest: Digest
    index: int | None  # None: a missing paper to insert
    entry: Entry
    request: SummaryRequest
    key: AnswerKey
    apply: tuple[str, ...]
    # A missing paper: its raw-crawl object, and the raw file's id order with its place in it.
    raw: dict[str, Any] | None = None
    raw_order: Sequence[str] = ()
    raw_index: int = 0
    outcome: Outcome | None = None


@dataclass
class Run:
    digests: list[Digest]
    jobs: list[Job]
    report: RepairReport = field(default_factory=RepairReport)


def prepare(paths: Sequence[Path], options: RepairOptions, prompts: PromptSet) -> Run:
    """Load every input and plan the work; any bad input raises before a request is made."""
    files = list(digest_paths(paths))
    if options.out is not None and len(files) != 1:
        raise UsageError("--out takes a single input file")
    placeholders = options.settings.placeholders()
    digests, jobs = [], []
    for path in files:
        digest = load_digest(path)
        digests.append(digest)
        jobs += _jobs_for(digest, options, prompts, placeholders)
    problems = {id(job): problem for job in jobs if (problem := unaskable(job)) is not None}
    run = Run(digests=digests, jobs=[job for job in jobs if id(job) not in problems])
    run.report.totals.needs_repair = len(jobs)
    for job in jobs:
        if id(job) in problems:
            run.report.record(EntryResult(id=printable(job.entry.id), path=_path(job), status="failed",
                                          attempts=0, error=problems[id(job)]))
    return run


def unaskable(job: Job) -> str | None:
    """Why an entry cannot be asked about at all (it fails alone, naming its file and line), or None."""
    if not job.entry.abstract.strip():  # nothing to summarise from: never let a model invent one
        return "no abstract to summarise from"
    entry = job.entry
    for name, text in (("id", entry.id), ("title", entry.title), ("abstract", entry.abstract),
                       ("authors", " ".join(entry.authors)), ("categories", " ".join(entry.categories))):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = f"{job.digest.path}:{entry.line}" if entry.line else str(job.digest.path)
            return (f"{where}: the {name} holds a lone surrogate (U+{ord(text[exc.start]):04X}), not valid "
                    "Unicode: fix the input")
    return None


def _jobs_for(digest: Digest, options: RepairOptions, prompts: PromptSet, marks: Placeholders) -> list[Job]:
    plan = plan_digest(digest, options.settings, marks)
    check_language(digest, plan, options.settings, marks)
    language = resolve(plan.language)
    file_keys = field_keys(digest.entries)
    jobs = []
    for index, verdict in sorted(plan.repairable(options.settings.include_refused).items()):
        entry = digest.entries[index]
        strategy = _strategy(verdict, options.strategy)
        ask = _own_keys(entry, file_keys)
        broken = {canonical(key) for key in verdict.fields}
        keys = ask if verdict.whole_entry or verdict.refused else tuple(k for k in ask if canonical(k) in broken)
        existing = {k: entry.fields[k] for k in ask if k in entry.fields} if strategy == "translate" else None
        jobs.append(_job(digest, index, entry, language, strategy, existing, keys, options, prompts, ask=ask))
    if options.restore_missing and plan.missing and plan.raw_file is not None:
        jobs += _restore_jobs(digest, plan, language, options, prompts)
    return jobs


def _own_keys(entry: Entry, file_keys: tuple[str, ...]) -> tuple[str, ...]:
    """The five keys to ask for, in the file's order: the entry's own spelling where it has the field,
    the file's otherwise. Keys outside the five (an extra key) are never asked for nor touched."""
    own = {canonical(key): key for key in entry.fields}
    return tuple(own.get(canonical(key), key) for key in file_keys)


def _restore_jobs(
    digest: Digest, plan: Plan, language: Language, options: RepairOptions, prompts: PromptSet
) -> list[Job]:
    """Jobs for the papers of the raw crawl that the enhanced file dropped."""
    assert plan.raw_file is not None
    keys = tuple(digest.entries[0].fields) if digest.entries else FIELDS
    objects = {str(obj["id"]): obj for obj in read_raw_objects(plan.raw_file)}
    place = {paper_id: i for i, paper_id in enumerate(plan.raw_order)}
    jobs = []
    for paper_id in plan.missing:
        entry, _ = entry_from(objects[paper_id], 0, enhanced=False)
        entry = entry.model_copy(update={"fields": dict.fromkeys(keys, "")})
        job = _job(digest, None, entry, language, "regenerate", None, keys, options, prompts)
        job.raw, job.raw_order, job.raw_index = objects[paper_id], plan.raw_order, place[paper_id]
        jobs.append(job)
    return jobs


def _strategy(verdict: EntryVerdict, wanted: Strategy) -> Strategy:
    """Translation only makes sense when the entry holds real content in another language."""
    if wanted == "translate" and verdict.fields and set(verdict.fields.values()) == {"wrong_language"}:
        return "translate"
    return "regenerate"


def _job(
    digest: Digest, index: int | None, entry: Entry, language: Language, strategy: Strategy,
    existing: dict[str, str] | None, keys: tuple[str, ...], options: RepairOptions, prompts: PromptSet,
    ask: tuple[str, ...] = (),
) -> Job:
    request = SummaryRequest(
        paper_id=entry.id, title=entry.title, abstract=entry.abstract, language=language,
        keys=ask or tuple(entry.fields) or keys, strategy=strategy, existing=existing,
    )
    key = AnswerKey(
        paper_id=entry.id, title=entry.title, abstract=entry.abstract, language=language.name,
        model=options.model, prompt_version=prompts.version, strategy=strategy, answer_keys=request.keys,
    )
    return Job(digest=digest, index=index, entry=entry, request=request, key=key, apply=keys)


def questions(jobs: Iterable[Job]) -> list[list[Job]]:
    """Jobs grouped by the question they ask: a paper listed twice (in one file or two) is asked once."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.key.digest(), []).append(job)
    return list(groups.values())


def estimate_prompt_tokens(jobs: Sequence[Job], prompts: PromptSet) -> int:
    """About four characters a token: good enough to tell a user what a run will cost."""
    chars = 0
    for job in jobs:
        r = job.request
        messages = prompts.render(r.strategy, paper_id=r.paper_id, title=r.title, abstract=r.abstract,
                                  language=r.language, existing=r.existing, schema_hint=None, keys=r.keys)
        chars += sum(len(str(m["content"])) for m in messages)
    return chars // 4


class Engine:
    """Runs the jobs of a Run against one endpoint, journaling every validated answer."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        journal: Journal,
        prompts: PromptSet,
        options: RepairOptions,
        *,
        on_result: Callable[[EntryResult], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.journal = journal
        self.stop = stop or threading.Event()
        self.options = options
        self.on_result = on_result
        self.throttle = Throttle(options.concurrency, options.rpm)
        self.summarizer = Summarizer(
            client, model=options.model, prompts=prompts, placeholders=options.settings.placeholders(),
            throttle=self.throttle, negotiator=Negotiator(), reasks=options.reasks,
            attempts=options.attempts, timeout=options.timeout,
        )
        self._failures: list[str] = []
        self._successes = 0

    async def run(self, run: Run) -> None:
        """Ask for every job the journal cannot serve; the same question is asked once per run."""
        live = deque(questions(job for job in run.jobs if not self.from_journal(job, run.report)))
        if not live or self.stop.is_set():
            return
        await self._one(live.popleft(), run.report)  # alone: proves the key, settles the mode
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.options.concurrency, len(live))):
                group.create_task(self._worker(live, run.report))

    def from_journal(self, job: Job, report: RepairReport) -> bool:
        """Serve a job from the journal (counted as cached); False when it must be asked."""
        fields = self.journal.get(job.key)
        if fields is None or set(fields) != set(job.request.keys):
            return False
        job.outcome = Outcome(fields=fields, attempts=0, requests=0, prompt_tokens=0, completion_tokens=0)
        report.cached += 1
        self.emit(report, EntryResult(id=job.entry.id, path=_path(job), status="repaired", attempts=0))
        return True

    async def _worker(self, queue: deque[list[Job]], report: RepairReport) -> None:
        while queue and not self.stop.is_set():  # a stop lets requests in flight finish
            await self._one(queue.popleft(), report)

    async def _one(self, jobs: list[Job], report: RepairReport) -> None:
        """One question; its answer serves every job that asks it (a paper listed twice)."""
        try:
            outcome = await self.summarizer.summarize(jobs[0].request)
        except SummaryError as exc:
            _count(report, exc.requests, exc.prompt_tokens, exc.completion_tokens)
            for job in jobs:
                self.emit(report, EntryResult(id=job.entry.id, path=_path(job), status="failed",
                                                    attempts=exc.attempts, error=exc.reason))
            self._trip(exc, report)
            return
        except ProviderError as exc:
            report.totals.requests += exc.requests
            exc.requests = report.totals.requests
            raise
        self.journal.put(jobs[0].key, outcome.fields)
        self._successes += 1
        _count(report, outcome.requests, outcome.prompt_tokens, outcome.completion_tokens)
        for job in jobs:
            job.outcome = outcome
            self.emit(report, EntryResult(id=job.entry.id, path=_path(job), status="repaired",
                                                attempts=outcome.attempts))

    def _trip(self, exc: SummaryError, report: RepairReport) -> None:
        if self._successes:
            return
        self._failures.append(exc.reason)
        if len(self._failures) >= BREAKER and len(set(self._failures)) == 1:
            raise ProviderError(
                f"the first {BREAKER} papers all failed the same way ({exc.reason}); stopping the run",
                requests=report.totals.requests,
            ) from exc

    def emit(self, report: RepairReport, result: EntryResult) -> None:
        """Record one entry's outcome and tell the caller (a progress bar, a worker's log)."""
        report.record(result)
        if self.on_result is not None:
            self.on_result(result)


def _count(report: RepairReport, requests: int, prompt_tokens: int, completion_tokens: int) -> None:
    report.totals.requests += requests
    report.totals.prompt_tokens += prompt_tokens
    report.totals.completion_tokens += completion_tokens


def _path(job: Job) -> str:
    return str(job.digest.path)


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


def write(digests: Sequence[Digest], options: RepairOptions, report: RepairReport) -> None:
    for digest in digests:
        assert digest.path is not None
        target = options.out or digest.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if options.backup and target == digest.path:
            backup(digest.path)
        write_atomic(target, digest.to_bytes())
        report.written.append(str(target))


async def repair(
    paths: Sequence[Path],
    options: RepairOptions,
    *,
    client: openai.AsyncOpenAI | None,
    journal: Journal,
    prompts: PromptSet,
    on_result: Callable[[EntryResult], None] | None = None,
    on_plan: Callable[[Run], None] | None = None,
    stop: threading.Event | None = None,
) -> RepairReport:
    """The whole job. Validated answers are written even when a fatal provider error ends the run."""
    started = time.monotonic()
    run = prepare(paths, options, prompts)
    if on_plan is not None:
        on_plan(run)
    if options.dry_run:
        unanswered = [group for group in questions(run.jobs) if journal.get(group[0].key) is None]
        run.report.cached = len(run.jobs) - sum(len(group) for group in unanswered)
        run.report.estimated_requests = len(unanswered)
        run.report.estimated_prompt_tokens = estimate_prompt_tokens([group[0] for group in unanswered], prompts)
        return run.report
    if client is None:
        raise UsageError("no client: an API key or --replay is needed")
    engine = Engine(client, journal, prompts, options, on_result=on_result, stop=stop)
    try:
        await engine.run(run)
    except* ProviderError as group:  # includes a replay miss
        raise stopped(run, options, started, group) from None
    finish(run, options, started)
    return run.report


def unfinished(run: Run, reason: str) -> None:
    """List the entries a fatal stop left unrepaired, so the report names every one of them."""
    done = {(e.id, e.path) for e in run.report.entries}
    for job in run.jobs:
        if job.outcome is None and (job.entry.id, _path(job)) not in done:
            run.report.record(EntryResult(id=job.entry.id, path=_path(job), status="failed", attempts=0,
                                          error=f"not attempted: {reason}"))


def finish(run: Run, options: RepairOptions, started: float) -> None:
    """Apply what was validated and write the digests that changed."""
    write(apply(run), options, run.report)
    run.report.wall_time = time.monotonic() - started


def stopped(
    run: Run, options: RepairOptions, started: float, group: BaseExceptionGroup[ProviderError]
) -> ProviderError:
    """A fatal stop keeps what was validated and names every entry left unrepaired in its report."""
    finish(run, options, started)
    fatal = group.exceptions[0]
    assert isinstance(fatal, ProviderError)
    unfinished(run, str(fatal))
    fatal.requests = run.report.totals.requests
    fatal.report = run.report
    return fatal
