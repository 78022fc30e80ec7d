"""Replays of a real server: llama.cpp's, through llama-cpp-python[server] 0.3.36 with SmolLM2-135M-Instruct,
recorded by `bench/llama_cassettes.py` (see cassettes/README.md). What it really says and sends, not what
our fakes were written to say: a json_schema response format refused with HTTP 500, `: ping - <time>`
keep-alives in a stream, and the tiny model's real answers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from engine import run
from hostile import Behaviour, Hostile
from vcr.serialize import deserialize
from vcr.serializers import yamlserializer

from resummarize.cli import main
from resummarize.journal import Journal
from resummarize.provider.retry import Kind, classify
from resummarize.provider.wire import from_stream, is_stream
from resummarize.testing.server import FakeProvider

RECORDED = Path(__file__).resolve().parent.parent / "cassettes" / "llama-cpp"


def interactions(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    requests, responses = deserialize((RECORDED / name).read_text(encoding="utf-8"), yamlserializer)[:2]
    return [(json.loads(request.body), response) for request, response in zip(requests, responses, strict=True)]


def mode_of(body: dict[str, Any]) -> str:
    return "tools" if "tools" in body else str(body.get("response_format", {}).get("type", "text"))


def test_the_recorded_refusal_of_json_schema_is_a_refused_mode_not_a_passing_fault() -> None:
    (body, response), *_ = interactions("repair.yaml")
    assert mode_of(body) == "json_schema" and response["status"]["code"] == 500
    text = response["body"]["string"]
    assert b"Input should be 'text' or 'json_object'" in text
    http = httpx2.Response(500, content=text, request=httpx2.Request("POST", "http://127.0.0.1:8765/v1"))
    error = openai.APIStatusError("500", response=http, body=json.loads(text))
    assert classify(error) is Kind.MODE_REJECTED  # was TRANSIENT: six tries of the same refused format


def test_the_recorded_keepalives_are_skipped_and_the_answer_read() -> None:
    streams = [response["body"]["string"] for _, response in interactions("keepalive.yaml")]
    waited = [raw for raw in streams if raw.lstrip().startswith(b": ping - ")]
    assert waited, "the request that queued behind another starts with keep-alive comments"
    for raw in streams:
        completion = from_stream(raw)
        assert is_stream(raw) and completion["choices"][0]["message"]["content"]
        assert completion["choices"][0]["finish_reason"] in ("stop", "length")


async def test_a_stream_that_starts_with_the_servers_pings_is_read_as_an_answer(
    seed_subset: Callable[[int], Path], tmp_path: Path
) -> None:
    """The recorded body, served to the run's streamed probe, is read as the model's answer: one cut off
    at its 60 tokens, and re-asked as such (it used to be "not a chat completion")."""
    raw = next(r["body"]["string"] for _, r in interactions("keepalive.yaml")
               if r["body"]["string"].lstrip().startswith(b": ping"))
    digest = tmp_path / "two.md"
    shutil.copyfile(seed_subset(2), digest)
    with FakeProvider() as fake, Hostile(fake, lambda body: Behaviour(raw=raw) if body.get("stream")
                                         else Behaviour()) as server:
        report = await run([digest], server, tmp_path / "j.db", language="English")  # type: ignore[arg-type]
        sent = [s.body for s in server.seen]
    assert report.totals.repaired == 1 and len(sent) == 2
    correction = sent[1]["messages"][-1]["content"]
    assert "The answer was cut off" in correction and "not a chat completion" not in correction


def test_a_repair_replayed_from_llama_cpp_negotiates_its_way_to_tools(
    seed_subset: Callable[[int], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recorded = interactions("repair.yaml")
    digest = tmp_path / "seed.md"
    shutil.copyfile(seed_subset(3), digest)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["repair", str(digest), "--language", "English", "--replay", str(RECORDED / "repair.yaml"),
                 "--base-url", "http://127.0.0.1:8765/v1", "--cache", str(tmp_path / "j.db"),
                 "--report", str(tmp_path / "report.json")])
    capsys.readouterr()
    # Every request was the one recorded (a miss is exit 4): the refused json_schema was not retried, and
    # the probe's stream -- 8 pings, then a role delta and [DONE], the server having interrupted it when
    # the pool's next request arrived -- was read as an empty answer, not as "not a chat completion".
    assert code in (0, 1)
    assert recorded[1][1]["body"]["string"].startswith(b": ping - ")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["totals"]["requests"] == len(recorded)
    assert sum(e["attempts"] for e in report["entries"]) == len(recorded)
    modes = [mode_of(body) for body, _ in recorded]
    assert modes[0] == "json_schema" and set(modes[1:]) == {"tools"}
    assert "The answer was empty" in recorded[3][0]["messages"][-1]["content"]
    with Journal(tmp_path / "j.db") as journal:
        assert journal.mode("http://127.0.0.1:8765/v1", "gpt-4o-mini") == ("tools", "max_tokens")
