"""The Batch API: one way for the engine to get answers, every question in one uploaded file, at half
the live price.

A batch can take hours, so its id goes to the journal the moment it exists: rerunning the same command
resumes it instead of paying twice. Whatever the batch does not answer acceptably (an error line, an
invalid answer, a line an expired or failed batch never ran) is left without an outcome, and the engine
asks it live, so a batch run ends exactly as a live run would.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import openai
from openai.types import Batch
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from resummarize.config import RepairOptions
from resummarize.errors import BatchPending, ValidationFailure
from resummarize.journal import Journal
from resummarize.plan import Job, questions
from resummarize.provider.request import Outcome
from resummarize.provider.retry import give_up, policy
from resummarize.provider.summarize import Summarizer
from resummarize.provider.wire import Mode, content_of
from resummarize.report import Usage

ENDPOINT: Literal["/v1/chat/completions"] = "/v1/chat/completions"
#: Longest custom_id we send; OpenAI documents no limit, but ids are echoed in every result line.
CUSTOM_ID_LIMIT = 64
#: Journal state of a batch whose results were read: its work never goes to a batch again.
DONE = "done"
__all__ = ["ask_batch"]
#: Batch statuses after which the provider changes nothing more.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
T = TypeVar("T")
#: The engine's hooks: a validated answer for the jobs asking one question, and what a result line cost.
Record = Callable[[list[Job], Outcome], None]
Count = Callable[[Usage], None]


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


class BatchRound:
    """Submits (or resumes) the batch for a plan, waits for it and keeps every valid answer."""

    def __init__(self, client: openai.AsyncOpenAI, journal: Journal, summarizer: Summarizer,
                 record: Record, count: Count, *, attempts: int) -> None:
        self.client = client
        self.journal = journal
        self.summarizer = summarizer
        self.record = record
        self.count = count
        self.attempts = attempts

    async def run(self, plan: BatchPlan, *, wait: bool, poll_interval: float) -> None:
        known = self.journal.batch(plan.work)
        if known is not None and known[1] == DONE:
            return  # read already: what it left unanswered goes live
        batch_id = known[0] if known is not None else await self.submit(plan)
        while True:
            batch = await self.call(lambda: self.client.batches.retrieve(batch_id))
            self.journal.set_batch(plan.work, batch.id, batch.status)
            if batch.status in TERMINAL:
                break
            if not wait:
                raise BatchPending(batch.id, batch.status)
            await asyncio.sleep(poll_interval)
        await self.collect(batch, plan)
        for job in (job for jobs in plan.jobs.values() for job in jobs if job.outcome is None):
            self.journal.set_batch(work_identity([job]), batch.id, DONE)
        self.journal.set_batch(plan.work, batch.id, DONE)

    async def submit(self, plan: BatchPlan) -> str:
        """Upload and create; the id is journaled before anything else can go wrong."""
        upload = (f"resummarize-{plan.work[:16]}.jsonl", plan.payload())
        stored = await self.call(lambda: self.client.files.create(file=upload, purpose="batch"))
        batch = await self.call(lambda: self.client.batches.create(
            input_file_id=stored.id, endpoint=ENDPOINT, completion_window="24h",
            metadata={"resummarize_work": plan.work},
        ))
        self.journal.set_batch(plan.work, batch.id, batch.status)
        return batch.id

    async def collect(self, batch: Batch, plan: BatchPlan) -> None:
        """Read the output and error files; every valid answer goes to the journal at once."""
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id is None:
                continue
            for line in read_results(await self.download(file_id)):
                jobs = plan.jobs.get(line.custom_id)
                if jobs is not None and line.response is not None:
                    self.take(jobs, line.response)

    async def download(self, file_id: str) -> bytes:
        content = await self.call(lambda: self.client.files.content(file_id))
        return content.content

    def take(self, jobs: list[Job], response: LineResponse) -> None:
        verdict = judge(self.summarizer, jobs[0], response)
        usage = Usage(1, verdict.prompt_tokens, verdict.completion_tokens)
        self.count(usage)
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
    count: Count,
) -> None:
    """Answer what a batch can: submit (or resume) one for the jobs no finished batch has tried yet.

    Jobs left without an outcome go live. Raises `BatchPending` while the batch runs and `wait` is off.
    """
    fresh = [job for job in jobs if not _tried(journal, job)]
    if not fresh:
        return
    plan = plan_batch(fresh, summarizer)
    batch = BatchRound(client, journal, summarizer, record, count, attempts=options.attempts)
    await batch.run(plan, wait=options.wait, poll_interval=options.poll_interval)


def _tried(journal: Journal, job: Job) -> bool:
    """A job a finished batch could not answer goes live: asking a batch again would only delay it."""
    known = journal.batch(work_identity([job]))
    return known is not None and known[1] == DONE
