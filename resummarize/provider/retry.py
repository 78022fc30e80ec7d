"""The one retry policy: which provider errors are worth another try, and how long to wait.

The SDK's own retries are switched off (`max_retries=0`) so that attempts do not multiply, and every
wait honours `retry-after-ms` / `Retry-After` so that a 429 pauses the whole pool, not one worker. A
wait longer than the cap stops the run (exit 3) naming the header, rather than hanging it.
"""

from __future__ import annotations

import math
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterator
from enum import StrEnum
from typing import Any

import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from resummarize.errors import ProviderError, ReplayMissError, SummaryError
from resummarize.provider.throttle import MAX_WAIT, too_long
from resummarize.provider.wire import fatal_message
from resummarize.report import Usage


class Kind(StrEnum):
    TRANSIENT = "transient"
    FATAL = "fatal"
    MODE_REJECTED = "mode_rejected"
    #: This one request cannot succeed (it does not fit the model's context window); the run goes on.
    ENTRY = "entry"
    #: The provider knows the output cap only under its other name (`max_tokens`, `max_completion_tokens`).
    CAP_NAME = "cap_name"


#: Words by which an error refuses a structured-output mode, whatever its status: llama.cpp's server
#: answers a json_schema response format with a 500 saying "Input should be 'text' or 'json_object'".
_MODE_WORDS = ("response_format", "json_schema", "json_object", "tool")
_CONTEXT_WORDS = ("context_length", "maximum context", "context window", "too long")
_UNKNOWN_WORDS = ("unsupported", "not supported", "unrecognized", "unknown", "extra", "not permitted")


def _error_code(exc: openai.APIStatusError) -> str:
    """The error body's code, type, param and message, lowercased. The message matters: DeepSeek
    rejects a response format with `param: null` and says so only in the message."""
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            return " ".join(str(err.get(name) or "") for name in ("code", "type", "param", "message")).lower()
    return ""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """An error and what it was raised from or while handling, outermost first (the SDK wraps the
    transport's errors)."""
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


def replay_miss(exc: BaseException) -> ReplayMissError | None:
    """The cassette's miss behind a failed request (the SDK wraps it in a connection error), if any."""
    return next((seen for seen in _chain(exc) if isinstance(seen, ReplayMissError)), None)


def unreachable(exc: BaseException) -> str | None:
    """Why nothing answers at the endpoint (connection refused, a host name that does not resolve, TLS
    spoken to a plain-HTTP port), or None. Before any response, that is a configuration error (a wrong
    --base-url), not bad luck."""
    for seen in _chain(exc):
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused (nothing is listening there)"
        if isinstance(seen, socket.gaierror):
            return f"the host name does not resolve ({seen.strerror or seen})"
        if isinstance(seen, ssl.SSLError):
            return (f"the TLS handshake failed ({seen.reason or seen}); if the server speaks plain HTTP, "
                    "the URL starts with http://")
    return None


def classify(exc: BaseException) -> Kind | None:
    """Transient errors are retried; fatal ones stop the run; None means 'not a provider error'."""
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts and resets
        return Kind.FATAL if replay_miss(exc) is not None else Kind.TRANSIENT
    if not isinstance(exc, openai.APIStatusError):
        return None
    status, code = exc.status_code, _error_code(exc)
    if status == 429:
        return Kind.FATAL if "insufficient_quota" in code else Kind.TRANSIENT
    if status in (400, 413, 422) or status >= 500:
        if any(word in code for word in _CONTEXT_WORDS):
            return Kind.ENTRY
        if status == 501 or (status != 413 and any(word in code for word in _MODE_WORDS)):
            return Kind.MODE_REJECTED
        named = "max_tokens" in code or "max_completion_tokens" in code
        if named and any(word in code for word in _UNKNOWN_WORDS):
            return Kind.CAP_NAME
    if status in (408, 409) or status >= 500:
        return Kind.TRANSIENT
    return Kind.FATAL


def _timed_out(exc: BaseException) -> bool:
    return any(isinstance(seen, openai.APITimeoutError | TimeoutError) for seen in _chain(exc))


def overload(exc: BaseException) -> str | None:
    """The sign of an overloaded server a failed request gives, or None: a timeout, a 502/503/504, or a
    429 that says neither how long to wait nor what budget is left (a server at capacity, not a rate
    limit: the throttle's budget rules and the shared cool-down cannot help, fewer requests at once can)."""
    if _timed_out(exc):
        return "timed out"
    if not isinstance(exc, openai.APIStatusError):
        return None
    if exc.status_code in (502, 503, 504):
        return f"HTTP {exc.status_code}"
    if exc.status_code == 429 and "insufficient_quota" not in _error_code(exc):
        headers = exc.response.headers
        if retry_after(exc) is None and not any(name.startswith("x-ratelimit-") for name in headers):
            return "HTTP 429 without Retry-After"
    return None


def should_retry(exc: BaseException) -> bool:
    """Transient errors are retried, unless the provider's `x-should-retry` header says otherwise: as in
    the OpenAI SDK, `true` retries whatever the status and `false` never retries."""
    response = getattr(exc, "response", None) if isinstance(exc, openai.APIStatusError) else None
    verdict = str(response.headers.get("x-should-retry", "")).lower() if response is not None else ""
    if verdict in ("true", "false"):
        return verdict == "true"
    return classify(exc) is Kind.TRANSIENT


#: How `give_up` names a paper that failed because the provider could not be reached or kept failing.
CONNECTION_FAILED = "connection failed"
KEPT_FAILING = "provider kept failing"


def outage_reason(reason: str) -> bool:
    """Whether a failed paper's reason says the provider was away (an outage), not that its answer was bad."""
    return reason.startswith((CONNECTION_FAILED, KEPT_FAILING))


def give_up(exc: Exception, *, paper_id: str | None, attempts: int, requests: int, secret: str | None) -> Exception:
    """What a request the policy gave up on means for the run (the one place this is decided).

    A replay miss stops the run naming the paper. For one paper's request (`paper_id`), a connection
    that kept failing or a transient status fails that paper alone; other status errors go back to the
    caller, which knows about modes and context windows. For a run-level call (the Batch API, no paper),
    whatever was given up on stops the run.
    """
    miss = replay_miss(exc)
    if miss is not None:
        return ReplayMissError(paper_id, cassette=miss.cassette, requests=requests)
    if paper_id is None:
        if isinstance(exc, openai.APIStatusError):
            return ProviderError(fatal_message(exc, secret), status=exc.status_code, requests=requests)
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(f"the Batch API could not be reached ({type(exc).__name__}); "
                                 "run the same command again to resume", requests=requests, outage=True)
        return exc
    if isinstance(exc, openai.APIConnectionError):
        reason = f"{CONNECTION_FAILED}: {type(exc).__name__}"
    elif isinstance(exc, openai.APIStatusError) and classify(exc) is Kind.TRANSIENT:
        reason = f"{KEPT_FAILING}: HTTP {exc.status_code}"
    else:
        return exc
    return SummaryError(paper_id, reason, attempts=attempts, usage=Usage(requests=requests))


def retry_after(exc: BaseException) -> tuple[float, str] | None:
    """Seconds the provider asked us to wait, from `retry-after-ms` or `Retry-After`, and the header that
    asked, as `name: value`."""
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
            return seconds, f"{name}: {value.strip()}"
    return None


def policy(
    *,
    attempts: int = 6,
    base: float = 0.5,
    cap: float = 30.0,
    max_wait: float = MAX_WAIT,
    on_retry_after: Callable[[float, str], None] | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    hopeless: Callable[[BaseException], bool] | None = None,
) -> AsyncRetrying:
    """Exponential backoff with jitter for transient errors; Retry-After wins when the provider sends it,
    unless it asks for more than `max_wait`: then the run stops (`ProviderError`, naming the header).

    `on_retry_after` (seconds, the header) lets the caller turn one worker's 429 into a pause for every
    worker; an error `hopeless` says is one is not retried whatever its kind (nothing listening at a new
    endpoint).
    """
    backoff = wait_exponential_jitter(multiplier=base, max=cap, jitter=base)

    def wait(state: RetryCallState) -> float:  # tenacity asks for the wait before it asks `stop`
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after(exc) if exc is not None else None
        if asked is None:
            return float(backoff(state))
        seconds, header = asked
        if seconds > max_wait:
            raise too_long(seconds, header, max_wait) from exc
        if on_retry_after is not None:
            on_retry_after(seconds, header)
        return seconds

    # `async for` awaits `sleep`: it must be a coroutine function, like asyncio.sleep (the default).
    extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception(lambda exc: should_retry(exc) and not (hopeless and hopeless(exc))),
        reraise=True,
        **extra,
    )
