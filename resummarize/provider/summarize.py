"""One entry -> one validated summary (an `Outcome`), with the OpenAI client passed in.

The structured-output mode comes from the run's `Negotiator` (see `wire`). An answer that fails
validation is sent back to the model with the list of problems, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion

from resummarize.cost import COMPLETION_ESTIMATE
from resummarize.detect import Placeholders
from resummarize.digest.model import canonical
from resummarize.errors import ProviderError, SummaryError, ValidationFailure
from resummarize.grounding import EVIDENCE_KEY, evidence_problem
from resummarize.provider.answer import json_schema, parse_answer, validate_fields
from resummarize.provider.prompts import PromptSet
from resummarize.provider.request import Outcome, SummaryRequest
from resummarize.provider.retry import Kind, classify, give_up, overload, policy, replay_miss, unreachable
from resummarize.provider.throttle import Throttle
from resummarize.provider.wire import STREAM, Mode, Negotiator, content_of, fatal_message, from_stream, request_body
from resummarize.report import Usage


class _Spent:
    """What one entry's requests have cost so far, across retries and re-asks."""

    def __init__(self) -> None:
        self.usage = Usage()


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
        self.timeout = timeout
        #: Whether the endpoint ever answered: until it has, nothing listening there is a wrong URL.
        self.reached = False

    async def summarize(self, request: SummaryRequest, proved: asyncio.Event | None = None) -> Outcome:
        """One validated answer. With `proved` (the run's probe), the request is streamed and `proved` is
        set the moment a 200's headers arrive: the key, the model and the output mode are good, and the
        pool need not wait for the whole answer."""
        mode = self.negotiator.mode
        messages = self.messages(request, mode)
        usage = _Spent()
        problems: list[str] = []
        last = None
        for attempt in range(1, self.reasks + 2):
            content: str | None = None
            try:
                content, mode = await self._ask(request, messages, mode, usage, proved)
                last = content
                fields = self.accept(request, content)
            except ValidationFailure as failure:
                problems = failure.problems
                messages = [*messages, *self._reask(content, failure)]
                continue
            return Outcome(fields=fields, attempts=attempt, usage=usage.usage)
        raise SummaryError(request.paper_id, "; ".join(problems) or "no valid answer",
                           attempts=self.reasks + 1, last_answer=last, usage=usage.usage)

    def messages(self, request: SummaryRequest, mode: Mode) -> list[dict[str, Any]]:
        hint = None if mode in (Mode.JSON_SCHEMA, Mode.TOOLS) else json.dumps(json_schema(request.keys))
        return list(self.prompts.render(
            request.strategy, paper_id=request.paper_id, title=request.title, abstract=request.abstract,
            language=request.language, existing=request.existing, schema_hint=hint, keys=request.keys,
        ))

    def accept(self, request: SummaryRequest, content: str | None) -> dict[str, str]:
        """Parse and validate one answer (also used for Batch API results)."""
        if content is None:
            raise ValidationFailure(["The answer was empty: reply with the JSON object."])
        raw = parse_answer(content)
        evidence = raw.pop(EVIDENCE_KEY, None)  # proves the answer is about this paper; never written
        grounded = [] if not request.abstract.strip() else [
            p for p in [evidence_problem(evidence, request.title, request.abstract)] if p]
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
        return [
            {"role": "assistant", "content": content or ""},
            {"role": "user", "content": "Your answer cannot be used: " + "; ".join(failure.problems)
             + " Reply again with the corrected JSON object only."},
        ]

    async def _ask(
        self, request: SummaryRequest, messages: list[dict[str, Any]], mode: Mode, usage: _Spent,
        proved: asyncio.Event | None = None,
    ) -> tuple[str | None, Mode]:
        """One answer from the model, through retries and mode negotiation."""
        while True:
            if mode is not self.negotiator.mode:  # the run settled on another mode meanwhile
                mode = self.negotiator.mode
                messages[:] = self.messages(request, mode) + messages[2:]
            try:
                return await self._send_with_retries(request, messages, mode, usage, proved), mode
            except openai.APIStatusError as exc:
                kind = classify(exc)
                if kind is Kind.MODE_REJECTED and self.negotiator.reject(mode):
                    continue
                if kind is Kind.ENTRY:
                    raise SummaryError(request.paper_id, "the paper is too long for the model's context window",
                                       attempts=1, usage=Usage(requests=usage.usage.requests)) from exc
                raise ProviderError(
                    fatal_message(exc, self.client.api_key), status=exc.status_code, requests=usage.usage.requests
                ) from exc

    async def _send_with_retries(
        self, request: SummaryRequest, messages: list[dict[str, Any]], mode: Mode, usage: _Spent,
        proved: asyncio.Event | None = None,
    ) -> str | None:
        try:
            async for attempt in policy(attempts=self.attempts, on_retry_after=self.throttle.pause,
                                        max_wait=self.throttle.max_wait, hopeless=self._hopeless):
                with attempt:
                    return await self._send(request, messages, mode, usage, proved)
        except Exception as exc:
            if self._hopeless(exc):
                raise ProviderError(f"cannot reach {self.client.base_url}: {unreachable(exc)}; check --base-url "
                                    "(or OPENAI_BASE_URL)", requests=usage.usage.requests) from exc
            failure = give_up(exc, paper_id=request.paper_id, attempts=self.attempts,
                              requests=usage.usage.requests, secret=self.client.api_key)
            if failure is exc:
                raise
            raise failure from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _hopeless(self, exc: BaseException) -> bool:
        return not self.reached and replay_miss(exc) is None and unreachable(exc) is not None

    async def _send(
        self, request: SummaryRequest, messages: list[dict[str, Any]], mode: Mode, usage: _Spent,
        proved: asyncio.Event | None = None,
    ) -> str | None:
        body = request_body(self.model, messages, mode, request.keys)
        stream = proved is not None and not proved.is_set()
        # What the provider's token window counts: the prompt (about four characters a token) and the answer.
        tokens = sum(len(str(m.get("content") or "")) for m in messages) // 4 + COMPLETION_ESTIMATE
        async with self.throttle.slot(tokens, judge=overload):
            usage.usage += Usage(requests=1)
            # The generic `post` sends the body as built: `create()` would re-walk every message
            # against the SDK's TypedDicts (~2 ms of CPU a request, a tenth of a run's wall time).
            if stream:
                assert proved is not None
                streamed = await self.client.post(
                    "/chat/completions", cast_to=object, body={**body, **STREAM}, options={"timeout": self.timeout},
                    stream=True, stream_cls=openai.AsyncStream[object],
                )
                response = streamed.response
                self.reached = True
                proved.set()  # a 200: the key, the model and the output mode are accepted
                self.throttle.observe(response.headers)
                raw = await response.aread()
            else:
                response = await self.client.post(
                    "/chat/completions", cast_to=httpx2.Response, body=body, options={"timeout": self.timeout}
                )
                raw = response.content
                self.reached = True
        if not stream:
            self.throttle.observe(response.headers)
        try:
            data = from_stream(raw) if raw.lstrip().startswith(b"data:") else json.loads(raw)
        except ValueError as exc:
            raise ValidationFailure(["The response body was not a chat completion."]) from exc
        if not isinstance(data, dict):
            raise ValidationFailure(["The response body was not a chat completion."])
        # Lenient like the SDK itself: local servers send values outside OpenAI's enums.
        completion = ChatCompletion.construct(**data)
        if completion.usage is not None:
            usage.usage += Usage(0, completion.usage.prompt_tokens, completion.usage.completion_tokens)
        return content_of(completion)
