"""A streamed answer whose events carry something other than text is a broken answer, asked again,
never a crash (over faked HTTP: what the client sent and what the provider streamed back)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import openai
import pytest

from resummarize.detect import Placeholders
from resummarize.errors import SummaryError
from resummarize.language import resolve
from resummarize.provider.prompts import load_prompts
from resummarize.provider.request import SummaryRequest
from resummarize.provider.summarize import Summarizer
from resummarize.provider.throttle import Throttle
from resummarize.provider.wire import from_stream


def stream_of(*deltas: dict[str, Any]) -> bytes:
    events = [{"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
               "choices": [{"index": 0, "delta": delta, "finish_reason": None}]} for delta in deltas]
    return b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events) + b"data: [DONE]\n\n"


@pytest.mark.parametrize("delta", [
    {"content": 5}, {"content": ["a"]}, {"content": {"text": "a"}},
    {"tool_calls": [{"index": 0, "function": {"name": "submit_summary", "arguments": 7}}]},
])
def test_a_streamed_piece_that_is_not_text_is_a_malformed_stream(delta: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a string"):
        from_stream(stream_of({"content": "{"}, delta))


def test_streamed_text_and_missing_pieces_still_add_up() -> None:
    completion = from_stream(stream_of({"role": "assistant"}, {"content": "a"}, {"content": None}, {"content": "b"}))
    assert completion["choices"][0]["message"]["content"] == "ab"


async def test_a_number_for_delta_content_is_asked_again_not_a_traceback() -> None:
    sent: list[httpx2.Request] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, headers={"content-type": "text/event-stream"},
                               content=stream_of({"content": 42}))

    client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://127.0.0.1:9/v1", max_retries=0,
                                http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handle)))
    summarizer = Summarizer(client, model="m", prompts=load_prompts(), placeholders=Placeholders(),
                            throttle=Throttle(1), reasks=1)
    request = SummaryRequest(paper_id="2501.00001", title="A title", abstract="An abstract about things.",
                             language=resolve("English"), keys=("tldr", "motivation", "method", "result",
                                                                "conclusion"))
    with pytest.raises(SummaryError, match="not a chat completion") as caught:
        await summarizer.summarize(request, asyncio.Event())
    await client.close()
    assert caught.value.attempts == 2 and len(sent) == 2  # the broken stream was asked again, once
    assert all(json.loads(r.content)["stream"] is True for r in sent[:1])
