"""The pipeline's own content check, asked before anything is written.

Upstream's `ai/enhance.py` posts the abstract, and then every generated field, to a service
(`POST {"text": ...}` -> `{"sensitive": true|false}`) and drops the paper when one is called sensitive, and
also when the call fails. A repair writes into the same digest, so it passes what it writes through the
same check, treating a failure the same way: nothing is written for that entry, which is reported
`blocked` and asked about again on a later run (a paid answer stays in the journal, checked again then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

import httpx2

from resummarize.errors import ValidationFailure
from resummarize.provider.request import Outcome
from resummarize.report import EntryResult

if TYPE_CHECKING:
    from resummarize.engine import Engine
    from resummarize.journal import Journal
    from resummarize.plan import Job
    from resummarize.provider.summarize import Summarizer


class ContentCheck:
    """A client of the check service at `url`; `problem` says why texts may not be written, if they may not.

    The URL may carry credentials: it never appears in a reason."""

    def __init__(self, url: str, *, timeout: float = 30.0, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self.timeout = timeout
        self.transport = transport

    async def problem(self, texts: Iterable[str]) -> str | None:
        """None when the service calls every text fine; otherwise why not (the first text it calls
        sensitive, or how the check failed). Empty texts are not sent."""
        async with httpx2.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
            reasons = await asyncio.gather(*(self._judge(client, text) for text in texts if text.strip()))
        return next((reason for reason in reasons if reason is not None), None)

    async def _judge(self, client: httpx2.AsyncClient, text: str) -> str | None:
        try:
            response = await client.post(self.url, json={"text": text})
            response.raise_for_status()
            body = response.json()
        except httpx2.TimeoutException:
            return "the content check did not answer in time"
        except httpx2.HTTPStatusError as exc:
            return f"the content check failed (HTTP {exc.response.status_code})"
        except httpx2.HTTPError as exc:
            return f"the content check could not be reached ({type(exc).__name__})"
        except ValueError:
            return "the content check answered with something that is not JSON"
        sensitive = body.get("sensitive") if isinstance(body, dict) else None
        if not isinstance(sensitive, bool):
            return "the content check answered without a true or false \"sensitive\""
        return "the content check calls it sensitive" if sensitive else None


async def answer(engine: Engine, jobs: list[Job], proved: asyncio.Event | None) -> None:
    """One question of a run, from asking to a usable answer. With the pipeline's content check set, it
    stands between the steps: a restored paper's abstract before the model is asked about it, every field
    of the answer (from the journal, else asked) before it is used; a problem blocks every job of the
    question, and a later run asks again."""
    if not engine.options.content_check:
        if (outcome := await engine.asked(jobs, proved)) is not None:
            engine.answered(jobs, outcome)
        return
    check = ContentCheck(engine.options.content_check, timeout=engine.options.timeout)
    first = jobs[0]
    problem = await check.problem([first.entry.abstract]) if first.index is None else None
    outcome = None if problem is not None else journaled(engine.journal, engine.summarizer, first)
    if outcome is not None:
        engine.report.cached += len(jobs)
    elif problem is None:
        outcome = await engine.asked(jobs, proved)
        if outcome is None:
            return  # failed, and reported so
        engine.journal.put(first.key, outcome.fields)  # paid for: kept whatever the check says
    if proved is not None:
        proved.set()
    if problem is None and outcome is not None:
        problem = await check.problem(outcome.fields.values())
    engine._asking.pop(first.key.digest(), None)
    if problem is None and outcome is not None:
        engine.answered(jobs, outcome)
        return
    for job in jobs:
        engine._emit(EntryResult(id=job.entry.id, path=job.path, status="blocked",
                                 attempts=outcome.attempts if outcome else 0, error=problem))
        engine.outbox.settle(job)


def journaled(journal: Journal, summarizer: Summarizer, job: Job) -> Outcome | None:
    """The journal's answer to the job's question, validated by today's rules, if it holds one."""
    fields = journal.get(job.key)
    if fields is None or set(fields) != set(job.request.keys):
        return None
    try:
        return Outcome(fields=summarizer.validate(job.request, fields), attempts=0)
    except ValidationFailure:
        return None  # stored under older rules that today's reject: ask again
