"""The one retry policy: which provider errors are worth another try, and how long to wait.

The SDK's own retries are switched off (`max_retries=0`) so that attempts do not multiply, and every
wait honours `retry-after-ms` / `Retry-After` so that a 429 pauses the whole pool, not one worker.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from resummarize.cassette import is_replay_miss

#: Waits longer than this are not worth holding a run for; the entry is reported as failed instead.
MAX_RETRY_AFTER = 600.0


class Kind(StrEnum):
    TRANSIENT = "transient"
    FATAL = "fatal"
    MODE_REJECTED = "mode_rejected"
    #: This one request cannot succeed (a paper too long for the context window); the run goes on.
    ENTRY = "entry"


def _error_code(exc: openai.APIStatusError) -> str:
    """The error body's code, type, param and message, lowercased. The message matters: DeepSeek
    rejects a response format with `param: null` and says so only in the message."""
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return " ".join(str(err.get(name) or "") for name in ("code", "type", "param", "message")).lower()
    return ""


def classify(exc: BaseException) -> Kind | None:
    """Transient errors are retried; fatal ones stop the run; None means 'not a provider error'."""
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts and resets
        return Kind.FATAL if is_replay_miss(exc) else Kind.TRANSIENT
    if not isinstance(exc, openai.APIStatusError):
        return None
    status, code = exc.status_code, _error_code(exc)
    if status == 429:
        return Kind.FATAL if "insufficient_quota" in code else Kind.TRANSIENT
    if status in (408, 409) or status >= 500:
        return Kind.TRANSIENT
    if status in (400, 413) and ("context_length" in code or "maximum context" in code or "too long" in code):
        return Kind.ENTRY
    if status in (400, 422) and ("response_format" in code or "tool" in code):
        return Kind.MODE_REJECTED
    return Kind.FATAL


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait, from `retry-after-ms` or `Retry-After`."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def policy(
    *,
    attempts: int = 6,
    base: float = 0.5,
    cap: float = 30.0,
    on_retry_after: Callable[[float], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> AsyncRetrying:
    """Exponential backoff with jitter for transient errors; Retry-After wins when the provider sends it,
    unless it asks for more than `MAX_RETRY_AFTER`: then the request gives up at once.

    `on_retry_after` lets the caller turn one worker's 429 into a pause for every worker.
    """
    backoff = wait_exponential_jitter(multiplier=base, max=cap, jitter=base)
    out_of_attempts = stop_after_attempt(attempts)

    def asked_for(state: RetryCallState) -> float | None:
        exc = state.outcome.exception() if state.outcome else None
        return retry_after(exc) if exc is not None else None

    def stop(state: RetryCallState) -> bool:
        asked = asked_for(state)
        return out_of_attempts(state) or (asked is not None and asked > MAX_RETRY_AFTER)

    def wait(state: RetryCallState) -> float:  # tenacity asks for the wait before it asks `stop`
        asked = asked_for(state)
        if asked is None:
            return float(backoff(state))
        if asked > MAX_RETRY_AFTER:
            return 0.0  # `stop` gives up on this request; nobody is paused for it
        if on_retry_after is not None:
            on_retry_after(asked)
        return asked

    # `async for` awaits `sleep`: it must be a coroutine function, like asyncio.sleep (the default).
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(lambda e: classify(e) is Kind.TRANSIENT),
        reraise=True,
        **extra,
    )
