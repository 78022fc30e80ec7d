"""One entry -> one validated summary, with the OpenAI client passed in.

Structured output is negotiated per endpoint (json_schema -> json_object -> tools -> text) and the
mode that works is remembered for the rest of the run. An answer that fails validation is sent back to
the model with the list of problems, a bounded number of times.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict

from resummarize.answer import json_schema, parse_answer, validate_fields
from resummarize.cassette import is_replay_miss
from resummarize.detect import Placeholders
from resummarize.errors import ProviderError, ReplayMissError, SummaryError, ValidationFailure
from resummarize.grounding import EVIDENCE_KEY, evidence_problem
from resummarize.language import Language
from resummarize.model import canonical
from resummarize.prompts import PromptSet
from resummarize.retry import Kind, classify, policy
from resummarize.throttle import Throttle

TOOL_NAME = "submit_summary"
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-*]{3,}|Bearer\s+\S+)")


class Mode(StrEnum):
    JSON_SCHEMA = "json_schema"
    JSON_OBJECT = "json_object"
    TOOLS = "tools"
    TEXT = "text"


class Negotiator:
    """Remembers which structured-output mode this endpoint accepts."""

    order: tuple[Mode, ...] = (Mode.JSON_SCHEMA, Mode.JSON_OBJECT, Mode.TOOLS, Mode.TEXT)

    def __init__(self, start: Mode = Mode.JSON_SCHEMA) -> None:
        self.mode = start

    def reject(self, mode: Mode) -> bool:
        """Move past a mode the provider refused; False when nothing is left to try."""
        if mode is not self.mode:
            return True  # another worker already moved on
        index = self.order.index(mode)
        if index + 1 >= len(self.order):
            return False
        self.mode = self.order[index + 1]
        return True


class SummaryRequest(BaseModel):
    """What one entry needs from the model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    paper_id: str
    title: str
    abstract: str
    language: Language
    keys: tuple[str, ...]
    strategy: str = "regenerate"
    existing: dict[str, str] | None = None


class Outcome(BaseModel):
    """A validated answer (file keys) and what it cost."""

    fields: dict[str, str]
    attempts: int
    requests: int
    prompt_tokens: int
    completion_tokens: int


def redact(text: str, secret: str | None) -> str:
    """Provider messages may echo part of the key; nothing of it reaches a log or report."""
    if secret:
        text = text.replace(secret, "***")
    return _SECRET.sub("***", text)


def fatal_message(exc: openai.APIStatusError, secret: str | None) -> str:
    if exc.status_code in (401, 403):
        return f"the provider rejected the API key (HTTP {exc.status_code}); check OPENAI_API_KEY"
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    detail = error.get("message") if isinstance(error, dict) else None
    return redact(f"HTTP {exc.status_code}: {detail or exc.message}", secret)


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

    async def summarize(self, request: SummaryRequest) -> Outcome:
        mode = self.negotiator.mode
        messages = self.messages(request, mode)
        usage = [0, 0, 0]  # requests, prompt tokens, completion tokens
        problems: list[str] = []
        last = None
        for attempt in range(1, self.reasks + 2):
            content: str | None = None
            try:
                content, mode = await self._ask(request, messages, mode, usage)
                last = content
                fields = self.accept(request, content)
            except ValidationFailure as failure:
                problems = failure.problems
                messages = [*messages, *self._reask(content, failure)]
                continue
            return Outcome(
                fields=fields, attempts=attempt, requests=usage[0], prompt_tokens=usage[1],
                completion_tokens=usage[2],
            )
        raise SummaryError(
            request.paper_id, "; ".join(problems) or "no valid answer",
            attempts=self.reasks + 1, last_answer=last, requests=usage[0],
            prompt_tokens=usage[1], completion_tokens=usage[2],
        )

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
        # A translation may carry figures the existing fields hold: they count as source text too.
        source = " ".join([request.abstract, *(request.existing or {}).values()])
        try:
            clean = validate_fields(by_name, language=request.language, placeholders=self.placeholders,
                                    abstract=source)
        except ValidationFailure as failure:
            raise ValidationFailure([*failure.problems, *grounded]) from failure
        if grounded:
            raise ValidationFailure(grounded)
        return {key: clean[canonical(key)] for key in request.keys}

    @staticmethod
    def _reask(content: str | None, failure: ValidationFailure) -> list[dict[str, Any]]:
        return [
            {"role": "assistant", "content": content or ""},
            {"role": "user", "content": "Your answer cannot be used: " + "; ".join(failure.problems)
             + " Reply again with the corrected JSON object only."},
        ]

    async def _ask(
        self, request: SummaryRequest, messages: list[dict[str, Any]], mode: Mode, usage: list[int]
    ) -> tuple[str | None, Mode]:
        """One answer from the model, through retries and mode negotiation."""
        while True:
            if mode is not self.negotiator.mode:  # the run settled on another mode meanwhile
                mode = self.negotiator.mode
                messages[:] = self.messages(request, mode) + messages[2:]
            try:
                return await self._send_with_retries(request, messages, mode, usage), mode
            except openai.APIStatusError as exc:
                kind = classify(exc)
                if kind is Kind.MODE_REJECTED and self.negotiator.reject(mode):
                    continue
                if kind is Kind.ENTRY:
                    raise SummaryError(request.paper_id, "the paper is too long for the model's context window",
                                       attempts=1, requests=usage[0]) from exc
                raise ProviderError(
                    fatal_message(exc, self.client.api_key), status=exc.status_code, requests=usage[0]
                ) from exc

    async def _send_with_retries(
        self, request: SummaryRequest, messages: list[dict[str, Any]], mode: Mode, usage: list[int]
    ) -> str | None:
        try:
            async for attempt in policy(attempts=self.attempts, on_retry_after=self.throttle.pause):
                with attempt:
                    return await self._send(request, messages, mode, usage)
        except Exception as exc:
            failure = self._give_up(request, exc, usage[0])
            if failure is exc:
                raise
            raise failure from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _give_up(self, request: SummaryRequest, exc: Exception, requests: int) -> Exception:
        """What a request that the retry policy gave up on means for the run."""
        if is_replay_miss(exc):
            return ReplayMissError(request.paper_id, requests=requests)
        if isinstance(exc, openai.APIConnectionError):
            reason = f"connection failed: {type(exc).__name__}"
        elif isinstance(exc, openai.APIStatusError) and classify(exc) is Kind.TRANSIENT:
            reason = f"provider kept failing: HTTP {exc.status_code}"
        else:
            return exc
        return SummaryError(request.paper_id, reason, attempts=self.attempts, requests=requests)

    async def _send(
        self, request: SummaryRequest, messages: list[dict[str, Any]], mode: Mode, usage: list[int]
    ) -> str | None:
        body = {"model": self.model, "messages": messages, **mode_options(mode, request.keys)}
        async with self.throttle.slot():
            usage[0] += 1
            # The generic `post` sends the body as built: `create()` would re-walk every message
            # against the SDK's TypedDicts (~2 ms of CPU a request, a tenth of a run's wall time).
            response = await self.client.post(
                "/chat/completions", cast_to=httpx2.Response, body=body, options={"timeout": self.timeout}
            )
        self.throttle.observe(response.headers)
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise ValidationFailure(["The response body was not a chat completion."]) from exc
        if not isinstance(data, dict):
            raise ValidationFailure(["The response body was not a chat completion."])
        # Lenient like the SDK itself: local servers send values outside OpenAI's enums.
        completion = ChatCompletion.construct(**data)
        if completion.usage is not None:
            usage[1] += completion.usage.prompt_tokens
            usage[2] += completion.usage.completion_tokens
        return content_of(completion)


def mode_options(mode: Mode, keys: Sequence[str]) -> dict[str, Any]:
    schema = json_schema(keys)
    if mode is Mode.JSON_SCHEMA:
        return {"response_format": {"type": "json_schema",
                                    "json_schema": {"name": "summary", "strict": True, "schema": schema}}}
    if mode is Mode.JSON_OBJECT:
        return {"response_format": {"type": "json_object"}}
    if mode is Mode.TOOLS:
        return {
            "tools": [{"type": "function", "function": {
                "name": TOOL_NAME, "description": "Submit the five-field summary.",
                "parameters": schema, "strict": True}}],
            "tool_choice": {"type": "function", "function": {"name": TOOL_NAME}},
        }
    return {}


def content_of(completion: Any) -> str | None:
    """The answer text, whatever mode carried it; refusals and truncation become validation failures."""
    if not completion.choices:
        raise ValidationFailure(["The response had no choices: reply with the JSON object."])
    choice = completion.choices[0]
    message = choice.message
    if getattr(message, "refusal", None):
        raise ValidationFailure(["You declined to answer; summarise the abstract, it is a public paper."])
    if choice.finish_reason == "length":
        raise ValidationFailure(["The answer was cut off: keep every field within its length limit."])
    if message.tool_calls:
        call = message.tool_calls[0]
        return str(call.function.arguments)
    content = message.content
    return None if content is None else str(content)

