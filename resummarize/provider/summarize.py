"""One entry -> one validated summary (an `Outcome`), with the OpenAI client passed in.

The structured-output mode comes from the run's `Negotiator` (see `wire`). An answer that fails
validation is sent back to the model with the list of problems, a bounded number of times, in a re-ask
of bounded size. Every exchange has one deadline and a bounded body, and every request is counted.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion

from resummarize.cost import COMPLETION_ESTIMATE
from resummarize.detect import Placeholders
from resummarize.digest.model import canonical
from resummarize.errors import JournalError, ProviderError, SummaryError, ValidationFailure
from resummarize.evidence import EVIDENCE_KEY, evidence_problem
from resummarize.journal import Journal
from resummarize.provider.answer import json_schema, parse_answer, validate_fields
from resummarize.provider.prompts import PromptSet
from resummarize.provider.request import Outcome, SummaryRequest
from resummarize.provider.retry import Kind, classify, give_up, overload, policy, replay_miss, unreachable
from resummarize.provider.throttle import Throttle
from resummarize.provider.wire import (
    CAP_NAMES,
    STREAM,
    Mode,
    Negotiator,
    content_of,
    fatal_message,
    from_stream,
    is_stream,
    output_cap,
    redact,
    request_body,
)
from resummarize.report import Usage

#: At most this much of a rejected answer is quoted back in a re-ask (its start and its end, where the
#: evidence phrase usually is): enough to see what went wrong, and a re-ask costs the same whatever the
#: model wrote (a runaway answer is not sent back whole).
EXCERPT = 800
#: A response body past this is no answer (an answer within the output cap, streamed event by event, is a
#: fraction of it); it is dropped unread instead of filling memory.
MAX_BODY = 4 * 1024 * 1024
_RAW = {"X-Stainless-Raw-Response": "stream"}  # the SDK hands the body over unread: it is read with a bound


def remembered(journal: Journal, client: openai.AsyncOpenAI, model: str) -> Negotiator:
    """The run's mode negotiation, starting at the rung that last worked for this endpoint and model,
    and remembering the one that works now. Remembering is a saving, not a result: a journal that cannot
    take it (a full disk) stops the run at the next answer it cannot store, never at this one."""
    endpoint = redact(str(client.base_url), None).rstrip("/")
    known = journal.mode(endpoint, model)
    mode, cap_name = Mode.JSON_SCHEMA, CAP_NAMES[0]
    if known is not None and known[0] in set(Mode) and known[1] in CAP_NAMES:
        mode, cap_name = Mode(known[0]), known[1]

    def remember(settled: Mode, name: str) -> None:
        if (settled, name) != known:
            with suppress(JournalError):
                journal.set_mode(endpoint, model, settled, name)

    return Negotiator(mode, cap_name, on_settle=remember)


class _Spent:
    """What one entry's requests have cost so far, across retries and re-asks."""

    def __init__(self) -> None:
        self.usage = Usage()


#: How many of the run's latest questions an evidence phrase is looked for in, to tell an answer about
#: another paper of the run from a phrase that was merely miscopied.
RECENT_SOURCES = 512


class Summarizer:
    """Turns SummaryRequests into validated Outcomes for one endpoint and model."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        prompts: PromptSet,
        placeholders: Placeholders,
        throttle: Throttle,
        negotiator: Negotiator | None = None,
        reasks: int = 2,
        attempts: int = 6,
        timeout: float = 60.0,
    ) -> None:
        self.client = client
        self.model = model
        self.prompts = prompts
        self.placeholders = placeholders
        self.throttle = throttle
        self.negotiator = negotiator or Negotiator()
        self.reasks = reasks
        self.attempts = attempts
        #: Seconds for one whole exchange: connecting, headers, body, every streamed event.
        self.timeout = timeout
        #: Whether the endpoint ever answered: until it has, nothing listening there is a wrong URL.
        self.reached = False
        #: What entries cut short by a stopped run had spent (requests and tokens), by paper id.
        self.abandoned: dict[str, Usage] = {}
        #: Title + abstract of the latest questions built (live or batch), by paper id.
        self.sources: OrderedDict[str, str] = OrderedDict()

    async def summarize(self, request: SummaryRequest, proved: asyncio.Event | None = None) -> Outcome:
        """One validated answer. With `proved` (the run's probe), the request is streamed and `proved` is
        set the moment a 200's headers arrive: the key, the model and the output mode are good, and the
        pool need not wait for the whole answer.

        A re-ask is the original request plus one short correction (an excerpt of the rejected answer
        and what is wrong with it): its size does not grow with the number of answers."""
        spent = _Spent()
        try:
            return await self._answer(request, spent, proved)
        except SummaryError as exc:  # every request made counts, whichever step gave up
            exc.attempts, exc.usage = spent.usage.requests, spent.usage
            raise
        except BaseException:  # a stopped run: what this entry spent is still counted
            self.abandoned[request.paper_id] = spent.usage
            raise

    async def _answer(self, request: SummaryRequest, spent: _Spent, proved: asyncio.Event | None) -> Outcome:
        problems: list[str] = []
        correction: list[dict[str, Any]] = []
        last = None
        answers = 0
        while answers <= self.reasks:
            answers += 1
            try:
                content, mode = await self._ask(request, correction, spent, proved)
            except ValidationFailure as failure:  # no answer to read: cut off, declined, not a completion
                problems, correction = failure.problems, self._reask(None, failure)
                continue
            last = content
            try:
                fields = self.accept(request, content)
            except ValidationFailure as failure:
                if content is not None and not self.shaped(request, content):
                    if self.negotiator.ignored(mode):  # the server ignored the mode: ask again a rung down
                        answers, correction = answers - 1, []
                        continue
                elif content is not None:
                    self.negotiator.settle(mode)
                problems, correction = failure.problems, self._reask(content, failure)
                continue
            self.negotiator.settle(mode)
            return Outcome(fields=fields, attempts=spent.usage.requests, usage=spent.usage)
        raise SummaryError(request.paper_id, "; ".join(problems) or "no valid answer",
                           attempts=spent.usage.requests, last_answer=last, usage=spent.usage)

    def messages(self, request: SummaryRequest, mode: Mode) -> list[dict[str, Any]]:
        """The prompt of a question; every question built is remembered (the latest RECENT_SOURCES), so
        that an answer carrying another question's evidence is named as being about another paper."""
        self.sources[request.paper_id] = f"{request.title} {request.abstract}"
        self.sources.move_to_end(request.paper_id)
        if len(self.sources) > RECENT_SOURCES:
            self.sources.popitem(last=False)
        hint = None if mode in (Mode.JSON_SCHEMA, Mode.TOOLS) else json.dumps(json_schema(request.keys))
        return list(self.prompts.render(
            request.strategy, paper_id=request.paper_id, title=request.title, abstract=request.abstract,
            language=request.language, existing=request.existing, schema_hint=hint, keys=request.keys,
        ))

    def body(self, request: SummaryRequest, mode: Mode, correction: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """The request body in `mode`: the prompt, a re-ask's correction, the output cap."""
        return request_body(self.model, [*self.messages(request, mode), *correction], mode, request.keys,
                             cap=output_cap(request.keys, request.language), cap_name=self.negotiator.cap_name)

    @staticmethod
    def shaped(request: SummaryRequest, content: str) -> bool:
        """Whether an answer is the JSON object the modes ask for (its keys, whatever their values)."""
        try:
            keys = {canonical(key) for key in parse_answer(content)}
        except ValidationFailure:
            return False
        return keys == {canonical(key) for key in (*request.keys, EVIDENCE_KEY)}

    def accept(self, request: SummaryRequest, content: str | None) -> dict[str, str]:
        """Parse and validate one answer (also used for Batch API results)."""
        if content is None:
            raise ValidationFailure(["The answer was empty: reply with the JSON object."])
        raw = parse_answer(content)
        evidence = raw.pop(EVIDENCE_KEY, None)  # proves the answer is about this paper; never written
        grounded = [] if not request.abstract.strip() else [
            p for p in [evidence_problem(evidence, request.title, request.abstract, self._others(request))] if p]
        by_name = {canonical(k): v for k, v in raw.items()}
        if set(by_name) != {canonical(k) for k in request.keys}:
            missing = [k for k in request.keys if canonical(k) not in by_name]
            extra = sorted(set(by_name) - {canonical(k) for k in request.keys})
            raise ValidationFailure(
                [f"Use exactly the keys {', '.join(request.keys)}"
                 + (f" (missing: {', '.join(missing)})" if missing else "")
                 + (f" (unexpected: {', '.join(extra)})" if extra else "")]
            )
        try:
            clean = self.validate(request, by_name)
        except ValidationFailure as failure:
            raise ValidationFailure([*failure.problems, *grounded]) from failure
        if grounded:
            raise ValidationFailure(grounded)
        return clean

    def _others(self, request: SummaryRequest) -> list[str]:
        return [source for paper_id, source in self.sources.items() if paper_id != request.paper_id]

    def validate(self, request: SummaryRequest, fields: Mapping[str, object]) -> dict[str, str]:
        """The fields under today's rules, by the request's own key names. Journaled answers pass here
        again before reuse: one validated under older, weaker rules is asked anew, never written."""
        by_name = {canonical(k): v for k, v in fields.items()}
        # A translation may carry figures the existing fields hold: they count as a source of numbers too.
        figures = " ".join((request.existing or {}).values())
        clean = validate_fields(by_name, language=request.language, placeholders=self.placeholders,
                                abstract=request.abstract, title=request.title, figures=figures)
        return {key: clean[canonical(key)] for key in request.keys}

    @staticmethod
    def _reask(content: str | None, failure: ValidationFailure) -> list[dict[str, Any]]:
        """The correction a re-ask adds to the original request: at most `EXCERPT` characters of the
        rejected answer, and the problems (bounded too: they may quote the answer)."""
        quoted = content or ""
        if len(quoted) > EXCERPT:
            head, tail = EXCERPT * 3 // 5, EXCERPT * 2 // 5
            quoted = f"{quoted[:head]} [… {len(quoted) - EXCERPT:,} characters not shown …] {quoted[-tail:]}"
        problems = "; ".join(failure.problems)
        if len(problems) > 4 * EXCERPT:
            problems = problems[: 4 * EXCERPT] + " […]"
        return [
            {"role": "assistant", "content": quoted},
            {"role": "user", "content": "Your answer cannot be used: " + problems
             + " Reply again with the corrected JSON object only."},
        ]

    async def _ask(
        self, request: SummaryRequest, correction: list[dict[str, Any]], spent: _Spent,
        proved: asyncio.Event | None = None,
    ) -> tuple[str | None, Mode]:
        """One answer from the model, through retries and negotiation: a mode the provider refuses
        (whatever the status it says so with) moves the run down the ladder."""
        while True:
            mode = self.negotiator.mode
            cap_name = self.negotiator.cap_name
            try:
                body = self.body(request, mode, correction)
                return await self._send_with_retries(request, body, spent, proved), mode
            except openai.APIStatusError as exc:
                kind = classify(exc)
                if kind is Kind.MODE_REJECTED and self.negotiator.reject(mode):
                    continue
                if kind is Kind.CAP_NAME and self.negotiator.rename_cap(cap_name):
                    continue
                if kind is Kind.ENTRY:
                    size = sum(len(str(m.get("content") or "")) for m in body["messages"])
                    raise SummaryError(
                        request.paper_id,
                        f"the request ({size:,} characters of prompt"
                        f"{', a re-ask' if correction else ''}) exceeds the model's context window: "
                        + fatal_message(exc, self.client.api_key)[:300],
                        usage=spent.usage) from exc
                raise ProviderError(
                    fatal_message(exc, self.client.api_key), status=exc.status_code, requests=spent.usage.requests
                ) from exc

    async def _send_with_retries(
        self, request: SummaryRequest, body: dict[str, Any], spent: _Spent, proved: asyncio.Event | None = None,
    ) -> str | None:
        try:
            async for attempt in policy(attempts=self.attempts, on_retry_after=self.throttle.pause,
                                        max_wait=self.throttle.max_wait, hopeless=self._hopeless):
                with attempt:
                    return await self._send(body, spent, proved)
        except Exception as exc:
            if self._hopeless(exc):
                raise ProviderError(f"cannot reach {redact(str(self.client.base_url), None)}: {unreachable(exc)}",
                                    outage=True, advice="check --base-url (or OPENAI_BASE_URL)",
                                    requests=spent.usage.requests) from exc
            failure = give_up(exc, paper_id=request.paper_id, attempts=spent.usage.requests,
                              requests=spent.usage.requests, secret=self.client.api_key)
            if failure is exc:
                raise
            raise failure from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _hopeless(self, exc: BaseException) -> bool:
        return not self.reached and replay_miss(exc) is None and unreachable(exc) is not None

    async def _send(self, body: dict[str, Any], spent: _Spent, proved: asyncio.Event | None = None) -> str | None:
        stream = proved is not None and not proved.is_set()
        # What the provider's token window counts: the prompt (about four characters a token) and the answer.
        tokens = sum(len(str(m.get("content") or "")) for m in body["messages"]) // 4 + COMPLETION_ESTIMATE
        async with self.throttle.slot(tokens, judge=overload):
            spent.usage += Usage(requests=1)
            # The generic `post` sends the body as built: `create()` would re-walk every message
            # against the SDK's TypedDicts (~2 ms of CPU a request, a tenth of a run's wall time).
            try:
                async with asyncio.timeout(self.timeout):  # the whole exchange, whatever the provider trickles
                    response = await self.client.post(
                        "/chat/completions", cast_to=httpx2.Response, body={**body, **STREAM} if stream else body,
                        options={"timeout": self.timeout, "headers": _RAW},
                    )
                    self.reached = True
                    try:
                        if stream:
                            assert proved is not None
                            proved.set()  # a 200: the key, the model and the output mode are accepted
                            self.throttle.observe(response.headers)
                        raw = await _read(response, MAX_BODY)
                    finally:
                        await response.aclose()
            except TimeoutError as exc:
                raise openai.APITimeoutError(request=httpx2.Request("POST", str(self.client.base_url))) from exc
        if not stream:
            self.throttle.observe(response.headers)
        try:
            streamed = is_stream(raw, response.headers.get("content-type", ""))
            data = from_stream(raw) if streamed else json.loads(raw)
        except ValueError as exc:
            raise ValidationFailure(["The response body was not a chat completion."]) from exc
        if not isinstance(data, dict):
            raise ValidationFailure(["The response body was not a chat completion."])
        # Lenient like the SDK itself: local servers send values outside OpenAI's enums.
        completion = ChatCompletion.construct(**data)
        if completion.usage is not None:
            spent.usage += Usage(0, completion.usage.prompt_tokens, completion.usage.completion_tokens)
        return content_of(completion)


async def _read(response: httpx2.Response, limit: int) -> bytes:
    """The body, up to `limit` bytes: past it the answer is dropped (and re-asked), not held in memory."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise ValidationFailure([f"The answer was far too long (over {limit:,} bytes): answer with the "
                                     "JSON object only, every field within its length limit."])
        chunks.append(chunk)
    return b"".join(chunks)
