"""The pipeline's own content check, asked before anything is written.

Upstream's `ai/enhance.py` posts the abstract, and then every generated field, to a service
(`POST {"text": ...}` -> `{"sensitive": true|false}`) and drops the paper when one is called sensitive, and
also when the call fails. A repair writes into the same digest, so it passes what it writes through the
same check, treating a failure the same way: nothing is written for that entry, which is reported
`blocked` and asked about again on a later run (a paid answer stays in the journal, checked again then).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx2

from resummarize.errors import ValidationFailure
from resummarize.provider.request import Outcome

if TYPE_CHECKING:
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
        self._client: httpx2.AsyncClient | None = None

    def _new_client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(timeout=self.timeout, transport=self.transport)

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[None]:
        """One client (one TLS context, kept-alive connections) for every check of a run: a run checks
        five fields of every answer."""
        async with self._new_client() as client:
            self._client = client
            try:
                yield
            finally:
                self._client = None

    async def problem(self, texts: Iterable[str]) -> str | None:
        """None when the service calls every text fine; otherwise why not (the first text it calls
        sensitive, or how the check failed). Empty texts are not sent. Outside `opened`, a client of
        its own."""
        if self._client is not None:
            return await self._problem(self._client, texts)
        async with self._new_client() as client:
            return await self._problem(client, texts)

    async def _problem(self, client: httpx2.AsyncClient, texts: Iterable[str]) -> str | None:
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


def journaled(journal: Journal, summarizer: Summarizer, job: Job) -> Outcome | None:
    """The journal's answer to the job's question, validated by today's rules, if it holds one."""
    fields = journal.get(job.key)
    if fields is None or set(fields) != set(job.request.keys):
        return None
    try:
        return Outcome(fields=summarizer.validate(job.request, fields), attempts=0)
    except ValidationFailure:
        return None  # stored under older rules that today's reject: ask again
