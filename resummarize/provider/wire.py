"""What goes over the wire: structured-output modes, request bodies, the answer's text, redaction.

Structured output is negotiated per endpoint (json_schema -> json_object -> tools -> text) and the
mode that works is remembered for the rest of the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import openai

from resummarize.errors import ValidationFailure
from resummarize.provider.answer import json_schema

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


def request_body(model: str, messages: list[dict[str, Any]], mode: Mode, keys: Sequence[str]) -> dict[str, Any]:
    """The chat-completions body, the same for a live request and a Batch API line."""
    return {"model": model, "messages": messages, **mode_options(mode, keys)}


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


#: What turns a request into a streamed one whose last event carries the usage.
STREAM: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}


def from_stream(raw: bytes) -> dict[str, Any]:
    """The chat completion a streamed response's server-sent events add up to: content and tool-call
    arguments joined, the finish reason, the usage. Raises ValueError on an event that is not JSON, or
    whose text pieces are not strings (`"content": 5` is a broken answer, not a crash)."""
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish, usage = None, None
    base: dict[str, Any] = {}
    for line in raw.splitlines():
        if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
            continue
        event = json.loads(line[5:])
        if not isinstance(event, dict) or "error" in event:
            raise ValueError("an error event in the stream")
        base = base or {k: event.get(k) for k in ("id", "created", "model")}
        usage = event.get("usage") or usage
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            content.append(_text(delta.get("content")))
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call.get("index", 0), {"id": call.get("id"), "type": "function",
                                                               "function": {"name": "", "arguments": ""}})
                function = call.get("function") or {}
                slot["function"]["name"] += _text(function.get("name"))
                slot["function"]["arguments"] += _text(function.get("arguments"))
            finish = choice.get("finish_reason") or finish
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    return {**base, "object": "chat.completion", "usage": usage,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}


def _text(piece: object) -> str:
    """A streamed piece of text; anything but a string (or nothing) is a malformed event."""
    if piece is None:
        return ""
    if not isinstance(piece, str):
        raise ValueError(f"a streamed text piece is a {type(piece).__name__}, not a string")
    return piece
