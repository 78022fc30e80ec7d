"""The Batch API: one way for the engine to get answers, every question in one uploaded file, at half
the live price.

A batch can take hours, so its id goes to the journal the moment it exists: rerunning the same command
resumes it instead of paying twice. A create whose reply was lost cannot have journaled it, so before
creating, the provider's own list of batches is searched for one carrying this work's id in its metadata
(and the create carries an idempotency key for the servers that honour one): retries and new runs find
the batch the lost reply created instead of creating, and paying for, a second.

Whatever the batch does not answer acceptably (an error line, an invalid answer, a line an expired or
failed batch never ran) is left without an outcome. Asking it live costs twice what the user chose
`--batch` for, so the engine does so only with `finish_live`; otherwise the run stops with the bill.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import openai
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from resummarize.config import RepairOptions
from resummarize.cost import dollars, estimate_cost
from resummarize.errors import BatchPending, BatchUnfinished, ValidationFailure
from resummarize.estimate import estimate_prompt_tokens
from resummarize.journal import Journal
from resummarize.plan import Job, questions
from resummarize.provider.prompts import PromptSet
from resummarize.provider.request import Outcome
from resummarize.provider.retry import give_up, policy
from resummarize.provider.summarize import Summarizer
from resummarize.provider.wire import Mode, content_of
from resummarize.report import ReportTotals, Usage

ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
#: Longest custom_id we send; OpenAI documents no limit, but ids are echoed in every result line.
CUSTOM_ID_LIMIT = 64
#: Journal state of a batch whose results were read: its work never goes to a batch again.
DONE = "done"
__all__ = ["ask_batch"]
#: Batch statuses after which the provider changes nothing more.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: The metadata key naming a batch's work: how a new run finds a batch whose create reply it never got.
WORK_KEY = "resummarize_work"
#: How far back the provider's batch list is searched for this work's batch (it is listed newest first).
LOOKBACK = 7 * 86400
T = TypeVar("T")
#: The engine's hook: a validated answer for the jobs asking one question.
Record = Callable[[list[Job], Outcome], None]


class RequestLine(BaseModel):
    """One line of the uploaded input file."""

    custom_id: str
    method: Literal["POST"] = "POST"
    url: Literal["/v1/chat/completions"] = ENDPOINT
    body: dict[str, Any]


class LineResponse(BaseModel):
    status_code: int
    body: Any = None


class ResultLine(BaseModel):
    """One line of a batch's output or error file; `response` is None for lines never run."""

    custom_id: str
    response: LineResponse | None = None


class LineVerdict(BaseModel):
    """A result line judged as the live path would judge an answer; `fields` is None when unusable."""

    fields: dict[str, str] | None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class BatchPlan:
    """The lines to send, the jobs each line answers (a paper may be listed twice) and their work id."""

    lines: list[RequestLine]
    jobs: dict[str, list[Job]]
    work: str

    def payload(self) -> bytes:
        return b"".join(line.model_dump_json().encode() + b"\n" for line in self.lines)


def work_identity(jobs: Iterable[Job]) -> str:
    """The same questions give the same id, whatever the order of files and entries."""
    keys = sorted({job.key.digest() for job in jobs})
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()


def custom_id(file_index: int, job: Job, taken: Container[str]) -> str:
    """`<file>:<entry index or new>:<paper id>`, readable in the provider's dashboard and unique."""
    where = "new" if job.index is None else str(job.index)
    base = f"{file_index}:{where}:{job.entry.id}"[:CUSTOM_ID_LIMIT]
    name, number = base, 1
    while name in taken:
        suffix = f"#{number}"
        name, number = base[: CUSTOM_ID_LIMIT - len(suffix)] + suffix, number + 1
    return name


def line_body(summarizer: Summarizer, job: Job) -> dict[str, Any]:
    """The body the live path sends first: same prompts, strict json_schema for the entry's own keys."""
    return summarizer.body(job.request, Mode.JSON_SCHEMA)


def plan_batch(jobs: Sequence[Job], summarizer: Summarizer) -> BatchPlan:
    """One line per distinct question, named after the first job that asks it."""
    named: dict[str, list[Job]] = {}
    lines: list[RequestLine] = []
    for group in questions(jobs):
        name = custom_id(group[0].file.index, group[0], named)
        named[name] = group
        lines.append(RequestLine(custom_id=name, body=line_body(summarizer, group[0])))
    return BatchPlan(lines=lines, jobs=named, work=work_identity(jobs))


def read_results(data: bytes) -> list[ResultLine]:
    """Result lines; an unreadable line is skipped, so its job simply goes live."""
    results = []
    for raw in data.splitlines():
        if raw.strip():
            try:
                results.append(ResultLine.model_validate_json(raw))
            except ValidationError:
                continue
    return results


def judge(summarizer: Summarizer, job: Job, response: LineResponse | None) -> LineVerdict:
    """Validate a batch answer exactly as the live path validates one (no re-ask: that happens live)."""
    if response is None or response.status_code != 200:
        return LineVerdict(fields=None)
    try:
        completion = ChatCompletion.model_validate(response.body)
    except ValidationError:
        return LineVerdict(fields=None)
    usage = completion.usage
    tokens = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens} if usage else {}
    try:
        fields = summarizer.accept(job.request, content_of(completion))
    except ValidationFailure:
        return LineVerdict(fields=None, **tokens)
    return LineVerdict(fields=fields, **tokens)


@dataclass
class BatchEnd:
    """How a batch ended, for the message of a run that stops rather than go live: its id and status,
    the batch-wide errors of a failed one, and its error lines."""

    batch_id: str
    status: str
    errors: list[str]
    error_lines: int = 0

    def describe(self) -> str:
        why = f" ({'; '.join(self.errors)})" if self.errors else ""
        lines = f", {self.error_lines} line(s) in its error file" if self.error_lines else ""
        return f"batch {self.batch_id} ended {self.status}{why}{lines}"


class BatchRound:
    """Submits (or resumes) the batch for a plan, waits for it and keeps every valid answer."""

    def __init__(self, client: openai.AsyncOpenAI, journal: Journal, summarizer: Summarizer,
                 record: Record, totals: ReportTotals, *, attempts: int) -> None:
        self.client = client
        self.journal = journal
        self.summarizer = summarizer
        self.record = record
        self.totals = totals
        self.attempts = attempts
        self.end: BatchEnd | None = None

    async def run(self, plan: BatchPlan, *, wait: bool, poll_interval: float) -> None:
        known = self.journal.batch(plan.work)
        if known is not None and known[1] == DONE:
            return  # read already: what it left unanswered is the engine's to decide
        batch_id = known[0] if known is not None else await self.submit(plan)
        while True:
            batch = await self.call(lambda: self.client.batches.retrieve(batch_id))
            self.journal.set_batch(plan.work, batch.id, batch.status)
            if batch.status in TERMINAL:
                break
            if not wait:
                raise BatchPending(batch.id, batch.status)
            await asyncio.sleep(poll_interval)
        errors = [f"{e.code}: {e.message}" if e.code else str(e.message)
                  for e in (batch.errors.data or [] if batch.errors else [])]
        self.end = BatchEnd(batch.id, batch.status, errors)
        await self.collect(batch, plan)
        for job in (job for jobs in plan.jobs.values() for job in jobs if job.outcome is None):
            self.journal.set_batch(work_identity([job]), batch.id, DONE)
        self.journal.set_batch(plan.work, batch.id, DONE)

    async def submit(self, plan: BatchPlan) -> str:
        """Find this work's batch at the provider, or upload and create it; the id is journaled at once.

        A create that failed without a reply (a timeout, a reset) may have created the batch all the
        same: before trying again, the provider's list is searched for it.
        """
        found = await self.call(lambda: self.find(plan.work))
        if found is None:
            stored = await self.call(lambda: self.upload(plan))
            tries = 0

            async def create() -> Batch:
                nonlocal tries
                tries += 1
                return await self.create(plan, stored, retry=tries > 1)

            found = await self.call(create)
        self.journal.set_batch(plan.work, found.id, found.status)
        return found.id

    async def find(self, work: str) -> Batch | None:
        """The newest batch created for this work in the last week, from the provider's own list."""
        since = time.time() - LOOKBACK
        async for batch in self.client.batches.list(limit=100):
            if (batch.metadata or {}).get(WORK_KEY) == work:
                return batch
            if batch.created_at < since:
                return None
        return None

    async def upload(self, plan: BatchPlan) -> str:
        """The input file's id: one a lost reply already uploaded (same name and size) is used again."""
        name, payload = f"resummarize-{plan.work[:16]}.jsonl", plan.payload()
        async for stored in self.client.files.list(purpose="batch"):
            if stored.filename == name and stored.bytes == len(payload):
                return stored.id
        return (await self.client.files.create(file=(name, payload), purpose="batch")).id

    async def create(self, plan: BatchPlan, input_file_id: str, *, retry: bool) -> Batch:
        """One create; a retry first looks for the batch the failed try may have created."""
        if retry:
            found = await self.find(plan.work)
            if found is not None:
                return found
        return await self.client.batches.create(
            input_file_id=input_file_id, endpoint=ENDPOINT, completion_window="24h",
            metadata={WORK_KEY: plan.work}, extra_headers={"Idempotency-Key": f"resummarize-{plan.work}"},
        )

    async def collect(self, batch: Batch, plan: BatchPlan) -> None:
        """Read the output and error files; every valid answer goes to the journal at once."""
        for file_id, errors in ((batch.output_file_id, False), (batch.error_file_id, True)):
            if file_id is None:
                continue
            for line in read_results(await self.download(file_id)):
                self.totals.batch_lines += 1
                if errors and self.end is not None:
                    self.end.error_lines += 1
                    self.totals.batch_errors += 1
                jobs = plan.jobs.get(line.custom_id)
                if jobs is not None and line.response is not None:
                    self.take(jobs, line.response)

    async def download(self, file_id: str) -> bytes:
        content = await self.call(lambda: self.client.files.content(file_id))
        return content.content

    def take(self, jobs: list[Job], response: LineResponse) -> None:
        verdict = judge(self.summarizer, jobs[0], response)
        usage = Usage(0, verdict.prompt_tokens, verdict.completion_tokens)  # a batch line, not a live request
        self.totals.add(usage, batch=True)
        if verdict.fields is not None:
            self.record(jobs, Outcome(fields=verdict.fields, attempts=1, usage=usage))

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One Files/Batches call through the retry policy; what it gives up on stops the run."""
        try:
            async for attempt in policy(attempts=self.attempts):
                with attempt:
                    return await make()
        except Exception as exc:
            failure = give_up(exc, paper_id=None, attempts=self.attempts, requests=0, secret=self.client.api_key)
            if failure is exc:
                raise
            raise failure from exc
        raise AssertionError("unreachable")  # pragma: no cover


async def ask_batch(
    jobs: Sequence[Job],
    *,
    client: openai.AsyncOpenAI,
    journal: Journal,
    summarizer: Summarizer,
    options: RepairOptions,
    record: Record,
    totals: ReportTotals,
) -> None:
    """Answer what a batch can: submit (or resume) one for the jobs no finished batch has tried yet.

    Jobs left without an outcome are the caller's to ask live when `options.finish_live` allows it;
    otherwise `BatchUnfinished` says what they would cost. Raises `BatchPending` while the batch runs
    and `wait` is off.
    """
    fresh = [job for job in jobs if not _tried(journal, job)]
    end = None
    if fresh:
        batch = BatchRound(client, journal, summarizer, record, totals, attempts=options.attempts)
        await batch.run(plan_batch(fresh, summarizer), wait=options.wait, poll_interval=options.poll_interval)
        end = batch.end
    left = [job for job in jobs if job.outcome is None]
    if left and not options.finish_live:
        raise BatchUnfinished(live_bill(end, left, options, summarizer.prompts))


def live_bill(end: BatchEnd | None, left: Sequence[Job], options: RepairOptions, prompts: PromptSet) -> str:
    """Why a batch run stops short of live requests, and what finishing it live would cost."""
    asks = [group[0] for group in questions(left)]
    cost = estimate_cost(options.model, len(asks), estimate_prompt_tokens(asks, prompts), options.prices)
    live = "an unknown price" if cost.live_usd is None else f"about {dollars(cost.live_usd)}"
    return (f"{end.describe() if end else 'an earlier batch ended'}: {len(asks)} question(s) for {len(left)} "
            f"entries left unanswered and nothing sent live; asking them live would cost {live} "
            f"(~{cost.prompt_tokens:,} prompt + ~{cost.completion_tokens:,} completion tokens at the full "
            "price); add --finish-live to do so")


def _tried(journal: Journal, job: Job) -> bool:
    """A job a finished batch could not answer is not sent to a batch again: that would only delay it."""
    known = journal.batch(work_identity([job]))
    return known is not None and known[1] == DONE
