"""What goes over the wire: structured-output modes, request bodies, the answer's text, redaction.

Structured output is negotiated per endpoint down a ladder (json_schema -> tools -> json_object -> plain
JSON by instruction): a mode the provider refuses, whatever the status it says so with, or ignores (a
200 whose answer is not the requested JSON) moves the run one rung down. The rung that produced a
conforming answer is remembered (the journal keeps it per endpoint and model for later runs).
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from collections.abc import Callable, Sequence
from enum import StrEnum
from functools import cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
import openai

from resummarize.digest.model import canonical
from resummarize.errors import ValidationFailure
from resummarize.evidence import EVIDENCE_CHARACTERS, EVIDENCE_WORDS
from resummarize.language import Language
from resummarize.provider.answer import MAX_LENGTH, is_cjk, json_schema

TOOL_NAME = "submit_summary"
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-*]{3,}|Bearer\s+\S+)")
#: `scheme://user:password@` in any text: the credentials part becomes `***`.
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@]+@")


class Mode(StrEnum):
    JSON_SCHEMA = "json_schema"
    TOOLS = "tools"
    JSON_OBJECT = "json_object"
    TEXT = "text"


#: The two names of the output cap: OpenAI's reasoning models refuse the first, older servers know only it.
CAP_NAMES: tuple[str, ...] = ("max_tokens", "max_completion_tokens")


class Negotiator:
    """Which structured-output mode (and name of the output cap) this endpoint accepts.

    `on_settle` hears of the mode and cap name the first time an answer conforms to them, so that
    they can be remembered for later runs (the journal keeps them per endpoint and model).
    """

    #: Strictest first: a server that enforces a schema or a tool call gives a model less room to stray.
    order: tuple[Mode, ...] = (Mode.JSON_SCHEMA, Mode.TOOLS, Mode.JSON_OBJECT, Mode.TEXT)

    def __init__(self, start: Mode = Mode.JSON_SCHEMA, cap_name: str = CAP_NAMES[0], *,
                 on_settle: Callable[[Mode, str], None] | None = None) -> None:
        self.mode = start
        self.cap_name = cap_name
        self.on_settle = on_settle
        #: Whether the current mode has produced an answer in the requested shape.
        self.proven = False

    def reject(self, mode: Mode) -> bool:
        """Move past a mode the provider refused; False when nothing is left to try."""
        if mode is not self.mode:
            return True  # another worker already moved on
        index = self.order.index(mode)
        if index + 1 >= len(self.order):
            return False
        self.mode, self.proven = self.order[index + 1], False
        return True

    def ignored(self, mode: Mode) -> bool:
        """An answer in `mode` was not the requested JSON. Before the mode has ever worked that means the
        server ignores it (move down, True); once it has, it is the model's slip, re-asked as usual."""
        if mode is not self.mode:
            return True  # another worker already moved on: ask in the run's mode
        if mode is Mode.TEXT or self.proven:
            return False
        return self.reject(mode)

    def settle(self, mode: Mode) -> None:
        """An answer in `mode` had the requested shape: the mode works here."""
        if mode is self.mode and not self.proven:
            self.proven = True
            if self.on_settle is not None:
                self.on_settle(self.mode, self.cap_name)

    def rename_cap(self, name: str) -> bool:
        """The provider refused the cap under `name`: use the other name; False when both were refused."""
        if name != self.cap_name:
            return True  # another worker already switched
        if name != CAP_NAMES[0]:
            return False
        self.cap_name = CAP_NAMES[1]
        return True


def redact(text: str, secret: str | None) -> str:
    """Provider messages may echo part of the key, and a URL may carry a password; nothing of either
    reaches a log or report."""
    if secret:
        text = text.replace(secret, "***")
    return _SECRET.sub("***", _URL_CREDENTIALS.sub(r"\1***@", text))


def split_credentials(url: str | None) -> tuple[str | None, tuple[str, str] | None]:
    """The URL without `user:password@`, and those credentials (None when it has none).

    Left in the URL, credentials would be printed with every message that names the endpoint and
    recorded in cassettes, and the HTTP client would send them as Basic auth in place of the API key.
    """
    if not url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, (parts.username or "", parts.password or "")


def client(key: str | None, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    """The client for a key and endpoint: the URL without credentials (they would reach every message
    naming it, and httpx would send them as Basic auth in place of the key); with no API key, the URL's
    `user:password` go as HTTP Basic auth. The SDK's own retries are off: one retry policy."""
    url, credentials = split_credentials(base_url)
    headers = {}
    if credentials is not None and not key:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
    return openai.AsyncOpenAI(api_key=key or "replay-needs-no-key", base_url=url, max_retries=0, timeout=timeout,
                              default_headers=headers, http_client=openai.DefaultAsyncHttpxClient(verify=_tls()))


@cache
def _tls() -> ssl.SSLContext:
    """The system's trusted certificates, read once a process: every new client would read the CA bundle
    again (~25 ms of CPU), and the watching worker makes one a pass."""
    return httpx2.create_ssl_context()


def output_cap(keys: Sequence[str], language: Language) -> int:
    """The most output tokens a valid answer can need, from the fields' length limits: every field at its
    limit (about two tokens a word, or a CJK character), the evidence phrase and the JSON around them.
    A model that runs on past it is cut off by the provider instead of billing tens of thousands of
    tokens (and the cut answer is re-asked as too long)."""
    cjk = is_cjk(language)
    fields = sum(MAX_LENGTH[canonical(key)][1 if cjk else 0] for key in keys)
    evidence = (EVIDENCE_CHARACTERS if cjk else EVIDENCE_WORDS)[1]  # the longest phrase the prompt asks for
    return 2 * (fields + evidence) + 100


def fatal_message(exc: openai.APIStatusError, secret: str | None) -> str:
    if exc.status_code in (401, 403):
        return f"the provider rejected the API key (HTTP {exc.status_code}); check OPENAI_API_KEY"
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body, dict) else {}
    detail = error.get("message") if isinstance(error, dict) else None
    return redact(f"HTTP {exc.status_code}: {detail or exc.message}", secret)


def mode_options(mode: Mode, keys: Sequence[str]) -> dict[str, Any]:
    """The request keys that ask for `mode`."""
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


def request_body(
    model: str, messages: list[dict[str, Any]], mode: Mode, keys: Sequence[str], *, cap: int,
    cap_name: str = CAP_NAMES[0],
) -> dict[str, Any]:
    """The chat-completions body, the same for a live request and a Batch API line; output is capped."""
    return {"model": model, "messages": messages, cap_name: cap, **mode_options(mode, keys)}


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


def is_stream(raw: bytes, content_type: str = "") -> bool:
    """Whether a body is server-sent events: by its content type, or by its first line that is not
    blank, which may be a comment (`: ping - <time>`, a keep-alive sent before the first token)."""
    if content_type.split(";")[0].strip().lower() == "text/event-stream":
        return True
    for line in raw.splitlines():
        if line.strip():
            return line.startswith((b"data:", b":", b"event:", b"id:", b"retry:"))
    return False


def from_stream(raw: bytes) -> dict[str, Any]:
    """The chat completion a streamed response's server-sent events add up to: content and tool-call
    arguments joined, the finish reason, the usage. Comment lines (`: ping`), blank keep-alives and other
    SSE fields are skipped wherever they come. Raises ValueError on an event that is not JSON, or whose
    text pieces are not strings (`"content": 5` is a broken answer, not a crash)."""
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
