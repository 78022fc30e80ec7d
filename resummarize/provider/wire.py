"""What goes over the wire: structured-output modes, request bodies, the answer's text, redaction.

Structured output is negotiated per endpoint (json_schema -> json_object -> tools -> text) and the
mode that works is remembered for the rest of the run.
"""

from __future__ import annotations

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
