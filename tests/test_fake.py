"""The fake provider, seen from the real OpenAI SDK: answers, modes, limits, faults, log and batches."""


from __future__ import annotations

import contextlib
import http.client
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion
from pydantic import BaseModel
from waiting import wait_for

from resummarize import testing
from resummarize.digest.model import FIELDS
from resummarize.errors import UsageError
from resummarize.testing.answers import duration
from resummarize.testing.server import FakeProvider, Fault, FaultPlan

# The plugin's fixtures, as a project that installs resummarize gets them through the pytest11 entry point.
fake_openai = testing.fake_openai
fake_openai_factory = testing.fake_openai_factory

MODEL = "gpt-4o-mini"
PAPER = "2601.18823"
HAN = re.compile(r"[\u4e00-\u9fff]")
Connect = Callable[..., openai.OpenAI]


class Summary(BaseModel):
    tldr: str
    motivation: str
    method: str
    result: str
    conclusion: str


def messages(paper: str = PAPER, language: str = "English", title: str = "Sparse Attention") -> list[Any]:
    prompt = f"Summarise this paper.\narXiv ID: {paper}\nTitle: {title}\nTarget language: {language}\n"
    return [
        {"role": "system", "content": "You write paper digests."},
        {"role": "user", "content": prompt + "Abstract: We study attention."},
    ]


def han_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if HAN.match(c)) / len(letters)


@pytest.fixture(scope="module")
def http_client() -> Iterator[openai.DefaultHttpxClient]:
    """One connection pool for the whole module: building a client (TLS context and all) is slow."""
    with openai.DefaultHttpxClient() as client:
        yield client


@pytest.fixture
def connect(http_client: openai.DefaultHttpxClient) -> Connect:
    """SDK clients without SDK retries, so that every fault is seen exactly once."""

    def make(fake: FakeProvider, **settings: Any) -> openai.OpenAI:
        settings.setdefault("api_key", fake.api_key)
        return openai.OpenAI(base_url=fake.base_url, max_retries=0, http_client=http_client, **settings)

    return make


def chat(client: openai.OpenAI, **extra: Any) -> ChatCompletion:
    extra.setdefault("messages", messages())
    completion: ChatCompletion = client.chat.completions.create(model=MODEL, **extra)
    return completion


def fields_of(completion: ChatCompletion) -> dict[str, str]:
    message = completion.choices[0].message
    if message.tool_calls:
        return dict(json.loads(message.tool_calls[0].function.arguments))  # type: ignore[union-attr]
    text = message.content or ""
    fenced = re.search(r"```json\n(.*)\n```", text, re.DOTALL)
    return dict(json.loads(fenced.group(1) if fenced else text))


TOOL = {"type": "function", "function": {"name": "record_summary", "parameters": Summary.model_json_schema()}}
MODES: dict[str, dict[str, Any]] = {
    "json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "summary", "schema": Summary.model_json_schema(), "strict": True},
        }
    },
    "json_object": {"response_format": {"type": "json_object"}},
    "tools": {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "record_summary"}}},
    "text": {},
}


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_answers_the_five_fields(fake_openai: FakeProvider, connect: Connect, mode: str) -> None:
    completion = chat(connect(fake_openai), **MODES[mode])
    choice = completion.choices[0]
    fields = fields_of(completion)
    assert tuple(fields) == FIELDS
    assert "Sparse Attention" in fields["tldr"]
    assert all(han_share(v) == 0 for v in fields.values())
    assert choice.finish_reason == ("tool_calls" if mode == "tools" else "stop")
    assert (choice.message.content is None) == (mode == "tools")
    if mode == "tools":
        assert choice.message.tool_calls[0].function.name == "record_summary"  # type: ignore[index,union-attr]
    if mode == "text":
        assert choice.message.content.startswith("```json\n")  # type: ignore[union-attr]
    assert fake_openai.requests[-1].mode == mode


def test_parse_with_a_pydantic_model_and_usage(fake_openai: FakeProvider, connect: Connect) -> None:
    sent = messages()
    completion = connect(fake_openai).chat.completions.parse(model=MODEL, messages=sent, response_format=Summary)
    parsed = completion.choices[0].message.parsed
    assert parsed is not None and "Sparse Attention" in parsed.tldr
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == sum(len(m["content"]) for m in sent) // 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > usage.prompt_tokens
    assert completion.id.startswith("chatcmpl-") and completion.model == MODEL


def test_schema_property_names_are_answered_exactly(fake_openai: FakeProvider, connect: Connect) -> None:
    schema = {"type": "object", "properties": {"task": {"type": "string"}, "keywords": {"type": "string"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "legacy", "schema": schema}}
    fields = fields_of(chat(connect(fake_openai), response_format=fmt))
    assert list(fields) == ["task", "keywords"] and "Sparse Attention" in fields["task"]


def test_chinese_answers_are_mostly_han(fake_openai: FakeProvider, connect: Connect) -> None:
    fields = fields_of(chat(connect(fake_openai), messages=messages(language="Chinese"), **MODES["json_object"]))
    assert fields["tldr"].startswith("该论文提出")
    assert all(han_share(v) > 0.8 for v in fields.values())


@pytest.mark.parametrize(
    ("language", "marker"),
    [
        ("German", "Diese Arbeit"),
        ("fr", "Cet article"),
        ("Japanese", "本論文"),
        ("es", "Este artículo"),
        ("Russian", "В этой работе"),
        ("Korean", "이 논문"),
        ("zh-CN", "该论文"),
    ],
)
def test_other_languages(fake_openai: FakeProvider, connect: Connect, language: str, marker: str) -> None:
    fields = fields_of(chat(connect(fake_openai), messages=messages(language=language)))
    assert marker in fields["tldr"]
    assert not any(re.search(r"\b(The|This) paper\b", value) for value in fields.values())


def test_hand_written_answers_are_served_verbatim(fake_openai_factory: Any, connect: Connect) -> None:
    fake = fake_openai_factory(answers={PAPER: {"tldr": "Hand-written $\\alpha$ TL;DR."}})
    fields = fields_of(chat(connect(fake), **MODES["json_object"]))
    assert fields["tldr"] == "Hand-written $\\alpha$ TL;DR."
    assert "introduces" not in fields["tldr"] and "motivation" in fields  # the rest falls back to defaults
    other = fields_of(chat(connect(fake), messages=messages(paper="2601.00001"), **MODES["json_object"]))
    assert other["tldr"].startswith("The paper")


@pytest.mark.parametrize("mode", ["json_schema", "json_object", "tools"])
def test_rejected_modes_get_a_400(fake_openai_factory: Any, connect: Connect, mode: str) -> None:
    client = connect(fake_openai_factory(reject_modes=[mode]))
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, **MODES[mode])
    assert caught.value.status_code == 400
    error = caught.value.body
    assert isinstance(error, dict) and "unavailable now" in error["message"]
    assert error["param"] == ("tool_choice" if mode == "tools" else "response_format")
    assert fields_of(chat(client))["tldr"]  # plain text still works


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(UsageError):
        FakeProvider(reject_modes=["yaml"])
    with pytest.raises(UsageError):
        FakeProvider(batch_outcome="exploded")
    with pytest.raises(UsageError):
        FakeProvider().base_url  # noqa: B018 - not started


def test_wrong_key_is_401_and_the_log_never_holds_a_key(fake_openai: FakeProvider, connect: Connect) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(connect(fake_openai, api_key="sk-wrong-secret"))
    assert caught.value.code == "invalid_api_key" and caught.value.status_code == 401
    chat(connect(fake_openai))
    bad, good = fake_openai.requests
    assert (bad.status, bad.auth_ok, good.status, good.auth_ok) == (401, False, 200, True)
    assert bad.headers["authorization"] == good.headers["authorization"] == "Bearer ***"
    dump = json.dumps([r.model_dump(mode="json") for r in fake_openai.requests])
    assert "sk-wrong-secret" not in dump and "sk-test" not in dump
    assert good.paper_id == PAPER and good.body["model"] == MODEL and good.path == "/v1/chat/completions"


def test_unknown_model_is_404(fake_openai: FakeProvider, connect: Connect) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        connect(fake_openai).chat.completions.create(model="gpt-9", messages=messages())
    assert caught.value.code == "model_not_found"
    assert [m.id for m in connect(fake_openai).models.list()] == [MODEL]


@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("http_500", openai.InternalServerError, 500),
        ("http_503", openai.InternalServerError, 503),
        ("http_429", openai.RateLimitError, 429),
        ("bad_key", openai.AuthenticationError, 401),
        ("context_length", openai.BadRequestError, 400),
    ],
)
def test_http_error_faults(
    fake_openai_factory: Any, connect: Connect, fault: str, error: type[openai.APIStatusError], status: int
) -> None:
    fake = fake_openai_factory(faults=FaultPlan.sequence([fault]))
    client = connect(fake)
    with pytest.raises(error) as caught:
        chat(client)
    assert caught.value.status_code == status
    if fault == "http_429":
        assert caught.value.response.headers["retry-after"] == "1"
    assert fields_of(chat(client))["tldr"]  # the plan is spent: healthy again
    assert [r.fault for r in fake.requests] == [fault, None]


def test_reset_fault_is_a_connection_error(fake_openai_factory: Any, connect: Connect) -> None:
    fake = fake_openai_factory(faults=FaultPlan.sequence(["reset"]))
    with pytest.raises(openai.APIConnectionError) as caught:
        chat(connect(fake))
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert (fake.requests[0].status, fake.requests[0].fault) == (0, Fault.RESET)


def test_timeout_fault_outlasts_the_client_timeout(fake_openai_factory: Any, connect: Connect) -> None:
    fake = fake_openai_factory(faults=FaultPlan.sequence(["timeout"]), timeout_hold=60)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(connect(fake, timeout=0.3))
    assert time.monotonic() - started < fake.timeout_hold / 2  # the client's timeout, not the hold, ended it
    started = time.monotonic()
    fake.stop()  # releases the held connection instead of waiting timeout_hold
    assert time.monotonic() - started < fake.timeout_hold / 2


def test_bad_body_fault_is_not_json(fake_openai_factory: Any, connect: Connect) -> None:
    fake = fake_openai_factory(faults=FaultPlan.sequence(["bad_body"]))
    with pytest.raises(json.JSONDecodeError):
        chat(connect(fake))
    assert fake.count(status=200, fault="bad_body") == 1


def _content(completion: ChatCompletion) -> str:
    return completion.choices[0].message.content or ""


CONTENT_FAULTS: dict[str, Callable[[ChatCompletion], bool]] = {
    "malformed_json": lambda c: _content(c).endswith(",") and not _content(c).rstrip().endswith("}"),
    "latex_backslashes": lambda c: {"\t", "\x08", "\x0c"} <= set(json.loads(_content(c))["tldr"]),
    "fenced": lambda c: _content(c).startswith("Here is") and "```json\n{" in _content(c),
    "wrong_language": lambda c: han_share(json.loads(_content(c))["tldr"]) > 0.8,
    "placeholder": lambda c: set(json.loads(_content(c)).values()) == {"Summary generation failed"},
    "empty": lambda c: _content(c) == "",
    "length": lambda c: c.choices[0].finish_reason == "length" and not _content(c).endswith("}"),
    "refusal": lambda c: (
        c.choices[0].message.content is None and c.choices[0].message.refusal == "I can't help with that"
    ),
    "html": lambda c: "<script>alert(1)</script>" in json.loads(_content(c))["tldr"],
}


@pytest.mark.parametrize("fault", CONTENT_FAULTS)
def test_content_faults(fake_openai_factory: Any, connect: Connect, fault: str) -> None:
    fake = fake_openai_factory(faults=FaultPlan.sequence([fault]))
    client = connect(fake)
    damaged = chat(client, **MODES["json_object"])
    assert CONTENT_FAULTS[fault](damaged)
    healthy = chat(client, **MODES["json_object"])
    assert not CONTENT_FAULTS[fault](healthy)
    assert json.loads(_content(healthy))["tldr"].startswith('The paper "Sparse Attention"')


def test_faults_in_tool_mode_damage_the_arguments(fake_openai_factory: Any, connect: Connect) -> None:
    fake = fake_openai_factory(faults=FaultPlan.sequence(["malformed_json", "wrong_language"]))
    client = connect(fake)
    broken = chat(client, **MODES["tools"]).choices[0].message.tool_calls[0]  # type: ignore[index]
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.function.arguments)  # type: ignore[union-attr]
    chinese = fields_of(chat(client, messages=messages(language="German"), **MODES["tools"]))
    assert chinese["tldr"].startswith('The paper "Sparse Attention"')  # English when German was asked


def test_fault_plans_are_deterministic_per_paper_attempt() -> None:
    papers = [f"2601.{n:05d}" for n in range(60)]
    forward, backward = FaultPlan.random(rate=0.5, seed=7), FaultPlan.random(rate=0.5, seed=7)
    ahead = {(p, k): forward.next(p) for k in range(3) for p in papers}
    behind = {(p, k): backward.next(p) for p in reversed(papers) for k in range(3)}
    assert ahead == behind
    assert None in ahead.values() and len(set(ahead.values())) > 3
    other = FaultPlan.random(rate=0.5, seed=8)
    assert {(p, k): other.next(p) for k in range(3) for p in papers} != ahead
    assert all(f is None for f in (FaultPlan.random(rate=0.0, seed=1).next(p) for p in papers))
    assert {FaultPlan.random(rate=1.0, kinds=["empty"]).next(p) for p in papers} == {Fault.EMPTY}
    plan = FaultPlan.per_paper({"A": ["http_500", None, "empty"]})
    assert [plan.next("A") for _ in range(4)] + [plan.next("B")] == [
        Fault.HTTP_500,
        None,
        Fault.EMPTY,
        None,
        None,
    ]
    assert [FaultPlan.always("bad_key").next(None) for _ in range(2)] == [Fault.BAD_KEY] * 2


def test_random_plan_is_order_independent_under_concurrency(fake_openai_factory: Any, connect: Connect) -> None:
    papers = [f"2601.{n:05d}" for n in range(24)]
    fake = fake_openai_factory(faults=FaultPlan.random(rate=0.5, kinds=["http_500", "empty"], seed=3))
    client = connect(fake)

    def ask(paper: str) -> None:
        with contextlib.suppress(openai.InternalServerError):
            chat(client, messages=messages(paper=paper))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(ask, papers))
    expected = FaultPlan.random(rate=0.5, kinds=["http_500", "empty"], seed=3)
    assert {r.paper_id: r.fault for r in fake.requests} == {p: expected.next(p) for p in papers}


def test_rpm_limit_and_ratelimit_headers(fake_openai_factory: Any, connect: Connect) -> None:
    client = connect(fake_openai_factory(rpm=2, clock=lambda: 1000.0))  # every request in the same instant
    first = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages())
    second = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages())
    assert [r.headers["x-ratelimit-remaining-requests"] for r in (first, second)] == ["1", "0"]
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert re.fullmatch(r"(\d+(\.\d+)?s|1m0s)", first.headers["x-ratelimit-reset-requests"])
    assert second.parse().choices[0].message.content
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)
    headers = caught.value.response.headers
    assert headers["retry-after"] == "60" and headers["retry-after-ms"] == "60000"


def test_concurrency_limit_gives_429_with_retry_after(fake_openai_factory: Any, connect: Connect) -> None:
    fake = fake_openai_factory(max_concurrency=2, latency=0.6)
    client = connect(fake)
    start = threading.Barrier(6)

    def ask(_: int) -> str:
        start.wait()
        try:
            chat(client)
        except openai.RateLimitError as error:
            return f"{error.response.headers['retry-after']}/{error.response.headers['retry-after-ms']}"
        return "ok"

    with ThreadPoolExecutor(6) as pool:
        outcomes = sorted(pool.map(ask, range(6)))
    assert outcomes == ["1/600"] * 4 + ["ok"] * 2
    assert fake.max_in_flight == 2 and fake.count(status=429) == 4


@pytest.mark.parametrize(("when_busy", "refusal"), [("503", "503"), ("429", "429")])
def test_a_server_at_capacity_refuses_without_saying_when(
    fake_openai_factory: Any, connect: Connect, when_busy: str, refusal: str
) -> None:
    """A server at capacity that says no more, nor when to come back: a bare 503 or 429."""
    fake = fake_openai_factory(max_concurrency=2, latency=0.6, when_busy=when_busy)
    client = connect(fake)
    start = threading.Barrier(5)

    def ask(_: int) -> str:
        start.wait()
        try:
            chat(client)
        except openai.APIStatusError as error:
            named = sorted(h for h in error.response.headers if h.startswith(("retry-after", "x-ratelimit")))
            return f"{error.status_code}{named}"
        return "ok"

    with ThreadPoolExecutor(5) as pool:
        outcomes = sorted(pool.map(ask, range(5)))
    assert outcomes == [f"{refusal}[]"] * 3 + ["ok"] * 2


def test_a_one_slot_server_keeps_the_others_in_line(fake_openai_factory: Any, connect: Connect) -> None:
    """`when_busy="queue"`: one answered at a time, the others wait their turn (llama.cpp's server)."""
    fake = fake_openai_factory(max_concurrency=1, latency=0.2, when_busy="queue")
    client = connect(fake)
    start = threading.Barrier(4)

    def ask(_: int) -> float:
        start.wait()
        began = time.monotonic()
        chat(client)
        return time.monotonic() - began

    with ThreadPoolExecutor(4) as pool:
        took = sorted(pool.map(ask, range(4)))
    assert fake.max_in_flight == 1 and fake.max_open == 4
    assert took[-1] >= 4 * 0.2  # the last one waited for three answers before its own
    assert fake.count(status=200) == 4


def test_extra_headers_go_with_every_answer(fake_openai_factory: Any, connect: Connect) -> None:
    client = connect(fake_openai_factory(extra_headers={"x-ratelimit-reset-requests": "99999h"}))
    answer = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages())
    assert answer.headers["x-ratelimit-reset-requests"] == "99999h"


def test_two_hundred_concurrent_connections(fake_openai_factory: Any) -> None:
    """200 requests are served at once, not one after another: held at a gate until all have arrived."""
    gate = threading.Event()
    fake = fake_openai_factory(gate=gate)
    body = json.dumps({"model": MODEL, "messages": messages()})

    def ask(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
        try:
            connection.request("POST", "/v1/chat/completions", body, {"Authorization": "Bearer sk-test"})
            return connection.getresponse().status
        finally:
            connection.close()

    with ThreadPoolExecutor(200) as pool:
        futures = [pool.submit(ask, n) for n in range(200)]
        try:
            wait_for(lambda: fake.in_flight == 200)  # all 200 held at the gate together
        finally:
            gate.set()
        statuses = [future.result() for future in futures]
    assert statuses == [200] * 200
    assert fake.max_in_flight == 200 and fake.in_flight == 0
    fake.reset_log()
    assert fake.requests == [] and fake.max_in_flight == 0


def test_keep_alive_reuses_one_connection_even_with_chunked_bodies(fake_openai: FakeProvider) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", fake_openai.port, timeout=5)
    headers = {"Authorization": "Bearer sk-test", "Content-Type": "application/json"}
    body = json.dumps({"model": MODEL, "messages": messages()}).encode()
    try:
        sockets = []
        for chunked in (False, True, False):
            sent = iter([body[:25], body[25:]]) if chunked else body
            connection.request("POST", "/v1/chat/completions", sent, headers, encode_chunked=chunked)
            response = connection.getresponse()
            assert response.status == 200 and int(response.headers["Content-Length"]) == len(response.read())
            sockets.append(connection.sock)
    finally:
        connection.close()
    assert sockets[0] is not None and sockets.count(sockets[0]) == 3
    assert [r.paper_id for r in fake_openai.requests] == [PAPER] * 3
    assert fake_openai.count(path="/v1/chat/completions") == 3 and fake_openai.count(path="/v1/files") == 0


def test_latency_is_applied(fake_openai_factory: Any, connect: Connect) -> None:
    client = connect(fake_openai_factory(latency=0.3))
    started = time.monotonic()
    chat(client)
    assert time.monotonic() - started >= 0.3


def test_duration_format() -> None:
    assert [duration(s) for s in (0.35, 1, 1.5, 59.9995, 360, 3723.5)] == [
        "350ms",
        "1s",
        "1.5s",
        "1m0s",
        "6m0s",
        "1h2m3.5s",
    ]


def _batch_input(papers: list[str]) -> bytes:
    lines = [
        {
            "custom_id": f"req-{p}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": MODEL,
                "messages": messages(paper=p),
                "response_format": {"type": "json_object"},
            },
        }
        for p in papers
    ]
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _run_batch(client: openai.OpenAI, data: bytes) -> openai.types.Batch:
    uploaded = client.files.create(file=("in.jsonl", data, "application/jsonl"), purpose="batch")
    assert uploaded.bytes == len(data) and uploaded.purpose == "batch"
    assert client.files.content(uploaded.id).content == data
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "validating" and batch.input_file_id == uploaded.id
    return batch


def _lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    assert file_id is not None
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_batch_completes_with_per_line_faults(fake_openai_factory: Any, connect: Connect) -> None:
    papers = ["2601.00001", "2601.00002", "2601.00003"]
    fake = fake_openai_factory(faults=FaultPlan.per_paper({"2601.00002": ["http_503"]}), batch_delay=1.0)
    client = connect(fake)
    batch = _run_batch(client, _batch_input(papers))
    wait_for(lambda: client.batches.retrieve(batch.id).status not in ("validating", "in_progress", "finalizing"))
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed" and done.completed_at is not None and done.finalizing_at is not None
    assert done.request_counts is not None and (done.request_counts.total, done.request_counts.failed) == (3, 1)
    output = _lines(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == ["req-2601.00001", "req-2601.00003"]
    first = ChatCompletion.model_validate(output[0]["response"]["body"])
    assert json.loads(_content(first))["tldr"].startswith("The paper") and output[0]["response"]["status_code"] == 200
    [error] = _lines(client, done.error_file_id)
    assert error["custom_id"] == "req-2601.00002" and error["response"]["status_code"] == 503
    assert error["error"] is None  # the HTTP error is in `response`, as the service writes it
    assert fake.batches == 1


def test_a_batch_walks_the_documented_statuses_and_counts_its_progress(
    fake_openai_factory: Any, connect: Connect
) -> None:
    """[guide] validating -> in_progress -> finalizing -> completed; request_counts grow while it runs."""
    papers = [f"2601.{n:05d}" for n in range(40)]
    client = connect(fake_openai_factory(batch_delay=1.5))
    batch = _run_batch(client, _batch_input(papers))
    statuses: list[str] = []
    done: list[int] = []
    while not statuses or statuses[-1] != "completed":
        seen = client.batches.retrieve(batch.id)
        if not statuses or statuses[-1] != seen.status:
            statuses.append(seen.status)
        assert seen.request_counts is not None
        done.append(seen.request_counts.completed)
        time.sleep(0.02)
    assert statuses[0] == "validating" and statuses[-2:] == ["finalizing", "completed"] and "in_progress" in statuses
    assert done == sorted(done) and any(0 < n < 40 for n in done) and done[-1] == 40
    output = [line["custom_id"] for line in _lines(client, client.batches.retrieve(batch.id).output_file_id)]
    assert sorted(output) == sorted(f"req-{p}" for p in papers) and output != [f"req-{p}" for p in papers]


def test_an_expired_batch_keeps_an_arbitrary_part_and_names_the_rest(
    fake_openai_factory: Any, connect: Connect
) -> None:
    papers = [f"a{n}" for n in range(30)]
    client = connect(fake_openai_factory(batch=testing.BatchSettings(outcome="expired", seed=3)))
    batch = client.batches.retrieve(_run_batch(client, _batch_input(papers)).id)
    assert batch.status == "expired" and batch.expired_at is not None
    done = [line["custom_id"] for line in _lines(client, batch.output_file_id)]
    errors = _lines(client, batch.error_file_id)
    assert sorted(done + [e["custom_id"] for e in errors]) == sorted(f"req-{p}" for p in papers)
    assert done != [f"req-{p}" for p in papers[: len(done)]]  # not the first lines in order
    assert {(e["error"]["code"], e["response"]) for e in errors} == {("batch_expired", None)}
    assert batch.request_counts is not None and batch.request_counts.completed == len(done)


def test_an_error_rate_puts_server_errors_in_the_error_file(fake_openai_factory: Any, connect: Connect) -> None:
    papers = [f"b{n}" for n in range(100)]
    client = connect(fake_openai_factory(batch=testing.BatchSettings(error_rate=0.3)))
    batch = client.batches.retrieve(_run_batch(client, _batch_input(papers)).id)
    errors = _lines(client, batch.error_file_id)
    assert batch.status == "completed" and 20 <= len(errors) <= 40
    assert {e["response"]["status_code"] for e in errors} == {500}
    assert len(_lines(client, batch.output_file_id)) == 100 - len(errors)


def _line(custom_id: str, model: str = MODEL, url: str = "/v1/chat/completions") -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": url,
            "body": {"model": model, "messages": messages(paper="x")}}


@pytest.mark.parametrize(("lines", "code", "line"), [
    ([_line("a"), _line("a")], "duplicate_custom_id", 2),
    ([_line("a"), _line("b", url="/v1/embeddings")], "mismatched_endpoint", 2),
    ([_line("a"), _line("b", model="gpt-4o")], "mismatched_model", 2),
    ([_line("a"), {"custom_id": "b"}], "missing_required_parameter", 2),
])
def test_batch_input_is_validated_as_documented(
    lines: list[dict[str, Any]], code: str, line: int, fake_openai_factory: Any, connect: Connect
) -> None:
    client = connect(fake_openai_factory())
    data = "".join(json.dumps(item) + "\n" for item in lines).encode()
    batch = client.batches.retrieve(_run_batch(client, data).id)
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data
    assert [(e.code, e.line) for e in batch.errors.data] == [(code, line)]
    assert batch.output_file_id is None and batch.failed_at is not None


def test_files_and_create_refuse_what_the_reference_refuses(fake_openai_factory: Any, connect: Connect) -> None:
    client = connect(fake_openai_factory())
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.files.create(file=("in.jsonl", b"{}\n"), purpose="nonsense")  # type: ignore[arg-type]
    other = client.files.create(file=("in.jsonl", _batch_input(["a"])), purpose="user_data")
    with pytest.raises(openai.BadRequestError, match="purpose"):
        client.batches.create(input_file_id=other.id, endpoint="/v1/chat/completions", completion_window="24h")
    stored = client.files.create(file=("in.jsonl", _batch_input(["a"])), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="metadata"):
        client.batches.create(input_file_id=stored.id, endpoint="/v1/chat/completions", completion_window="24h",
                              metadata={f"k{n}": "v" for n in range(17)})
    assert [f.id for f in client.files.list(purpose="batch")] == [stored.id]


def test_cancel_ends_a_running_batch_with_what_it_ran(fake_openai_factory: Any, connect: Connect) -> None:
    """[batch-ref] cancel: cancelling, then cancelled with partial results; an ended batch cannot be."""
    client = connect(fake_openai_factory(batch_delay=2.0))
    batch = _run_batch(client, _batch_input([f"c{n}" for n in range(20)]))
    wait_for(lambda: client.batches.retrieve(batch.id).status == "in_progress")
    time.sleep(0.5)
    assert client.batches.cancel(batch.id).status == "cancelling"
    ended = client.batches.retrieve(batch.id)
    assert ended.status == "cancelled" and ended.cancelled_at is not None and ended.cancelling_at is not None
    done = _lines(client, ended.output_file_id) if ended.output_file_id else []
    errors = _lines(client, ended.error_file_id)
    assert len(done) + len(errors) == 20 and 0 < len(errors) < 20
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)


def test_batches_are_listed_newest_first_page_by_page(fake_openai_factory: Any, connect: Connect) -> None:
    client = connect(fake_openai_factory())
    made = [_run_batch(client, _batch_input([f"d{n}"])).id for n in range(5)]
    first = client.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    assert [b.id for b in client.batches.list(limit=2)] == made[::-1]  # the SDK follows `after`
    with pytest.raises(openai.BadRequestError):
        client.batches.list(limit=101)


def test_a_slow_create_creates_the_batch_all_the_same(fake_openai_factory: Any, connect: Connect) -> None:
    fake = fake_openai_factory(batch=testing.BatchSettings(create_delay=1.0))
    client = connect(fake, timeout=0.3)
    stored = client.files.create(file=("in.jsonl", _batch_input(["e1"])), purpose="batch")
    with pytest.raises(openai.APITimeoutError):
        client.batches.create(input_file_id=stored.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert fake.batches == 1  # the reply was lost, not the batch
    keyed = connect(fake_openai_factory(batch=testing.BatchSettings(idempotency=True)))
    again = keyed.files.create(file=("in.jsonl", _batch_input(["e1"])), purpose="batch")
    ids = {keyed.batches.create(input_file_id=again.id, endpoint="/v1/chat/completions", completion_window="24h",
                                extra_headers={"Idempotency-Key": "k1"}).id for _ in range(2)}
    assert len(ids) == 1


def test_batch_fails(fake_openai_factory: Any, connect: Connect) -> None:
    client = connect(fake_openai_factory(batch_outcome="failed"))
    batch = client.batches.retrieve(_run_batch(client, _batch_input(["a1"])).id)
    assert batch.status == "failed" and batch.errors is not None and batch.errors.data
    assert batch.errors.data[0].code == "token_limit_exceeded" and batch.output_file_id is None
    broken = connect(fake_openai_factory())
    bad = broken.batches.retrieve(_run_batch(broken, _batch_input(["a1"]) + b"not json\n").id)
    assert bad.status == "failed" and bad.errors is not None and bad.errors.data
    assert bad.errors.data[0].line == 2 and bad.errors.data[0].code == "invalid_json_line"
    with pytest.raises(openai.NotFoundError):
        broken.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")


def test_plugin_fixtures_start_and_stop_providers(fake_openai: FakeProvider) -> None:
    assert fake_openai.base_url.startswith("http://127.0.0.1:") and fake_openai.base_url.endswith("/v1")
    assert testing.FakeProvider is FakeProvider and testing.Fault is Fault and testing.FaultPlan is FaultPlan
    factories = testing._providers()
    provider = next(factories)(rpm=5)
    assert provider.port > 0
    factories.close()
    with pytest.raises(UsageError):
        provider.port  # noqa: B018 - stopped with the fixture
