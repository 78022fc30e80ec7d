"""The one retry policy: what is worth another try, what stops the run, and how long to wait.

Errors are real `openai` exception objects built on real `httpx2` responses, with the bodies providers
send; waits are recorded through the policy's `sleep` hook, so nothing here actually sleeps.
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from resummarize.errors import ProviderError, ReplayMissError
from resummarize.provider.retry import Kind, classify, overload, policy, retry_after
from resummarize.provider.throttle import MAX_WAIT

URL = "http://127.0.0.1:9/v1/chat/completions"
_CLASSES: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def request() -> httpx2.Request:
    return httpx2.Request("POST", URL)


def status_error(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> openai.APIStatusError:
    """What the SDK raises for `status`: the class it picks, with the body as it passes it on."""
    response = httpx2.Response(status, headers=headers or {}, request=request())
    cls = _CLASSES.get(status, openai.InternalServerError if status >= 500 else openai.APIStatusError)
    message = body.get("message", "error") if isinstance(body, dict) else "error"
    return cls(str(message), response=response, body=body)


def err(message: str, type_: str | None, code: str | int | None, param: str | None = None) -> dict[str, Any]:
    return {"message": message, "type": type_, "param": param, "code": code}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, err("Incorrect API key provided: sk-***", "invalid_request_error", "invalid_api_key"), Kind.FATAL),
        (403, err("Project does not have access to model", "invalid_request_error", "model_not_found"), Kind.FATAL),
        (404, err("The model `gpt-9` does not exist", "invalid_request_error", "model_not_found"), Kind.FATAL),
        # one paper too long for the model: that paper fails, the run goes on
        (400, err("max context length is 128000 tokens", "invalid_request_error", "context_length_exceeded",
                  "messages"), Kind.ENTRY),
        (400, err("This model's maximum context length is 8192 tokens", "BadRequestError", 400), Kind.ENTRY),
        (400, None, Kind.FATAL),  # an HTML error page: no body the SDK could parse
        (400, err("Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                  "invalid_request_error", None, "response_format"), Kind.MODE_REJECTED),
        # DeepSeek names the response format only in the message
        (400, err("This response_format type is unavailable now", "invalid_request_error",
                  "invalid_request_error"), Kind.MODE_REJECTED),
        (400, err("Invalid value for 'tool_choice'", "invalid_request_error", None, "tool_choice"),
         Kind.MODE_REJECTED),
        # vLLM without tool parsing: numeric code, the problem only in the message
        (400, err('"auto" tool choice requires --enable-auto-tool-choice', "BadRequestError", 400),
         Kind.MODE_REJECTED),
        # some servers send the whole envelope as the body
        (422, {"error": err("response_format is not supported", "invalid_request_error", None)},
         Kind.MODE_REJECTED),
        (422, {"detail": [{"loc": ["body", "messages"], "msg": "field required"}]}, Kind.FATAL),
        (429, err("Rate limit reached for gpt-4o-mini", "requests", "rate_limit_exceeded"), Kind.TRANSIENT),
        (429, err("You exceeded your current quota", "insufficient_quota", "insufficient_quota"), Kind.FATAL),
        (408, None, Kind.TRANSIENT),
        (409, err("conflict", None, None), Kind.TRANSIENT),
        (500, err("The server had an error", "server_error", None), Kind.TRANSIENT),
        (502, None, Kind.TRANSIENT),
        (503, err("The engine is currently overloaded", "server_error", None), Kind.TRANSIENT),
    ],
)
def test_classify_status_errors(status: int, body: object, kind: Kind) -> None:
    assert classify(status_error(status, body)) is kind


def test_classify_connection_errors_are_transient() -> None:
    assert classify(openai.APIConnectionError(request=request())) is Kind.TRANSIENT
    assert classify(openai.APITimeoutError(request=request())) is Kind.TRANSIENT


def test_classify_replay_miss_is_fatal_not_a_connection_blip() -> None:
    exc = openai.APIConnectionError(request=request())
    exc.__cause__ = ReplayMissError(None, cassette="cassette.yaml")  # what the cassette raises on a miss
    assert classify(exc) is Kind.FATAL


@pytest.mark.parametrize("exc", [ValueError("bad json"), KeyError("tldr"), RuntimeError("boom")])
def test_classify_other_errors_are_not_provider_errors(exc: BaseException) -> None:
    assert classify(exc) is None


@pytest.mark.parametrize(
    ("headers", "asked"),
    [
        ({"retry-after-ms": "1500"}, (1.5, "retry-after-ms: 1500")),
        ({"Retry-After": "7"}, (7.0, "retry-after: 7")),
        ({"retry-after": "0.25"}, (0.25, "retry-after: 0.25")),
        ({"retry-after-ms": "250", "Retry-After": "30"}, (0.25, "retry-after-ms: 250")),  # the precise one wins
        ({"retry-after-ms": "soon", "Retry-After": "3"}, (3.0, "retry-after: 3")),  # garbage falls through
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, None),
        ({"Retry-After": "later"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "inf"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], asked: tuple[float, str] | None) -> None:
    assert retry_after(status_error(429, None, headers)) == asked


def test_retry_after_without_a_response() -> None:
    assert retry_after(openai.APIConnectionError(request=request())) is None
    assert retry_after(ValueError("x")) is None


class Script:
    """A call that fails with the given errors in turn, then answers."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "answer"


class Sleeps(list[float]):
    """A `sleep` for the policy that records how long it was asked to wait, and returns at once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)


async def run(script: Script, **settings: Any) -> tuple[str, list[float], list[float]]:
    """Drive `script` through the policy; return the answer, the waits slept and the pauses asked for."""
    waits = Sleeps()
    pauses: list[float] = []
    async for attempt in policy(sleep=waits, on_retry_after=lambda seconds, _: pauses.append(seconds), **settings):
        with attempt:
            return await script(), waits, pauses
    raise AssertionError("the policy neither returned nor raised")


async def test_transient_errors_are_retried_with_growing_backoff() -> None:
    script = Script(status_error(500), status_error(503), openai.APIConnectionError(request=request()))
    answer, waits, pauses = await run(script, attempts=6, base=0.5, cap=30.0)
    assert answer == "answer"
    assert script.calls == 4
    assert len(waits) == 3
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 1.5
    assert 2.0 <= waits[2] <= 2.5
    assert pauses == []


async def test_backoff_is_capped() -> None:
    script = Script(*(status_error(502) for _ in range(5)))
    _, waits, _ = await run(script, attempts=6, base=0.5, cap=1.2)
    assert len(waits) == 5
    assert max(waits) <= 1.2


async def test_gives_up_after_n_attempts_with_the_last_error() -> None:
    last = status_error(503, err("overloaded, third time", "server_error", None))
    script = Script(status_error(503), status_error(500), last, status_error(500))
    with pytest.raises(openai.InternalServerError) as info:
        await run(script, attempts=3)
    assert info.value is last
    assert script.calls == 3


async def test_fatal_errors_are_not_retried() -> None:
    bad_key = status_error(401, err("Incorrect API key", "invalid_request_error", "invalid_api_key"))
    script = Script(bad_key)
    waits = Sleeps()
    with pytest.raises(openai.AuthenticationError):
        async for attempt in policy(sleep=waits):
            with attempt:
                await script()
    assert script.calls == 1
    assert waits == []


async def test_mode_rejection_and_other_errors_are_not_retried() -> None:
    rejected = status_error(400, err("This response_format type is unavailable now", "x", "x"))
    for exc in (rejected, ValueError("not a provider error")):
        script = Script(exc)
        with pytest.raises(type(exc)):
            await run(script)
        assert script.calls == 1


async def test_retry_after_is_honoured_and_pauses_everyone() -> None:
    script = Script(
        status_error(429, err("Rate limit", "requests", "rate_limit_exceeded"), {"Retry-After": "7"}),
        status_error(503, None, {"retry-after-ms": "1500"}),
    )
    answer, waits, pauses = await run(script, attempts=5)
    assert answer == "answer"
    assert waits == [7.0, 1.5]
    assert pauses == [7.0, 1.5]


async def test_retry_after_zero_retries_at_once() -> None:
    script = Script(status_error(429, None, {"Retry-After": "0"}))
    _, waits, pauses = await run(script)
    assert waits == [0.0]
    assert pauses == [0.0]


@pytest.mark.parametrize(("headers", "named"), [({"Retry-After": "3600"}, "retry-after: 3600"),
                                               ({"retry-after-ms": "360000000"}, "retry-after-ms: 360000000")])
async def test_a_retry_after_beyond_the_cap_stops_the_run_naming_the_header(
    headers: dict[str, str], named: str
) -> None:
    """A provider asking for an hour stops the run (exit 3) at once, saying which header asked: not a
    run that hangs, nor a paused pool, nor an entry failed for a reason nobody sees."""
    asked = status_error(429, err("Rate limit", "requests", "rate_limit_exceeded"), headers)
    script = Script(asked)
    waits = Sleeps()
    pauses: list[float] = []
    with pytest.raises(ProviderError) as info:
        async for attempt in policy(sleep=waits, on_retry_after=lambda seconds, _: pauses.append(seconds)):
            with attempt:
                await script()
    assert info.value.exit_code == 3
    assert named in str(info.value) and "--max-wait" in str(info.value)
    assert info.value.__cause__ is asked
    assert script.calls == 1
    assert waits == []
    assert pauses == []


async def test_a_retry_after_just_within_the_cap_is_waited_for() -> None:
    script = Script(status_error(429, None, {"Retry-After": str(int(MAX_WAIT))}))
    _, waits, pauses = await run(script)
    assert waits == [MAX_WAIT]
    assert pauses == [MAX_WAIT]


async def test_the_cap_is_the_callers() -> None:
    script = Script(status_error(503, None, {"Retry-After": "30"}))
    with pytest.raises(ProviderError, match="retry-after: 30"):
        await run(script, max_wait=10.0)
    script = Script(status_error(503, None, {"Retry-After": "30"}))
    _, waits, _ = await run(script, max_wait=30.0)
    assert waits == [30.0]


@pytest.mark.parametrize(
    ("error", "sign"),
    [
        (openai.APITimeoutError(request=request()), "timed out"),
        (status_error(503), "HTTP 503"),
        (status_error(502), "HTTP 502"),
        (status_error(504), "HTTP 504"),
        (status_error(429, err("busy", "server_error", None)), "HTTP 429 without Retry-After"),
        # a rate limit that says how long or what is left is the throttle's business, not overload
        (status_error(429, None, {"Retry-After": "2"}), None),
        (status_error(429, None, {"x-ratelimit-remaining-requests": "0"}), None),
        (status_error(429, err("quota", "insufficient_quota", "insufficient_quota")), None),
        (status_error(500), None),
        (openai.APIConnectionError(request=request()), None),
        (ValueError("not a provider error"), None),
    ],
)
def test_signs_of_overload(error: BaseException, sign: str | None) -> None:
    assert overload(error) == sign


async def test_policy_works_without_a_pause_hook() -> None:
    script = Script(status_error(429, None, {"Retry-After": "2"}))
    waits = Sleeps()
    async for attempt in policy(sleep=waits):
        with attempt:
            assert await script() == "answer"
    assert waits == [2.0]


# --- the provider's own say: `x-should-retry`, over faked HTTP ----------------------------------------


def scripted_client(replies: list[httpx2.Response], sent: list[httpx2.Request]) -> openai.AsyncOpenAI:
    """An SDK client (its own retries off) whose HTTP calls get `replies` in turn and are logged in `sent`."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return replies.pop(0)

    transport = httpx2.MockTransport(handle)
    return openai.AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0,
                              http_client=httpx2.AsyncClient(transport=transport))


def completion_reply() -> httpx2.Response:
    return httpx2.Response(200, json={
        "id": "c1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
    })


async def ask_through_policy(client: openai.AsyncOpenAI) -> str | None:
    async for attempt in policy(sleep=Sleeps()):
        with attempt:
            reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
            return reply.choices[0].message.content
    raise AssertionError("the policy neither returned nor raised")


async def test_x_should_retry_true_retries_a_status_that_is_otherwise_final() -> None:
    sent: list[httpx2.Request] = []
    refused = httpx2.Response(400, headers={"x-should-retry": "true"}, json=err("try again", "x", None))
    client = scripted_client([refused, completion_reply()], sent)
    assert await ask_through_policy(client) == "ok"
    assert [r.url.path for r in sent] == ["/v1/chat/completions"] * 2


async def test_x_should_retry_false_stops_a_status_that_is_otherwise_retried() -> None:
    sent: list[httpx2.Request] = []
    busy = httpx2.Response(503, headers={"x-should-retry": "false"}, json=err("busy", "server_error", None))
    client = scripted_client([busy, completion_reply()], sent)
    with pytest.raises(openai.InternalServerError):
        await ask_through_policy(client)
    assert len(sent) == 1
