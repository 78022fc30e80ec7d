"""Structured-output negotiation over real HTTP: the ladder json_schema -> tools -> json_object -> plain JSON,
moved down on any refusal of a mode whatever its status, or on a 200 that ignores it; the rung that works
is remembered per endpoint and model in the journal."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine import run
from hostile import LLAMA_CPP_REFUSAL, Behaviour, Hostile

from resummarize.errors import ValidationFailure
from resummarize.provider.retry import Kind, classify
from resummarize.provider.wire import Mode, Negotiator
from resummarize.testing.server import FakeProvider


def mode_of(body: dict[str, Any]) -> str:
    if "tools" in body:
        return "tools"
    return str(body.get("response_format", {}).get("type", "text"))


@pytest.fixture
def five(seed_subset: Callable[[int], Path], tmp_path: Path) -> Path:
    target = tmp_path / "five.md"
    shutil.copyfile(seed_subset(5), target)
    return target


def refusing(modes: set[str], status: int, message: str) -> Callable[[dict[str, Any]], Behaviour]:
    return lambda body: Behaviour(refuse=(status, message)) if mode_of(body) in modes else Behaviour()


@pytest.mark.parametrize(("status", "message"), [
    LLAMA_CPP_REFUSAL,  # llama.cpp's server: a 500 naming neither the parameter nor the mode asked for
    (400, "response_format json_schema is not supported by this model"),
    (422, "Unprocessable: unknown field `response_format.json_schema`"),
    (501, "Not Implemented"),
])
async def test_a_refused_json_schema_moves_down_to_tools_whatever_the_status(
    five: Path, tmp_path: Path, status: int, message: str
) -> None:
    with FakeProvider() as fake, Hostile(fake, refusing({"json_schema"}, status, message)) as server:
        report = await run([five], _at(server), tmp_path / "j.db", language="English")
        modes = [mode_of(s.body) for s in server.seen]
    assert report.totals.repaired == 4  # one of the five is good
    assert modes == ["json_schema", "tools", "tools", "tools", "tools"]  # not retried as a fault
    assert report.totals.requests == len(modes) == 5


async def test_every_rung_refused_in_turn_ends_at_plain_json(five: Path, tmp_path: Path) -> None:
    every = refusing({"json_schema", "tools", "json_object"}, *LLAMA_CPP_REFUSAL)
    with FakeProvider() as fake, Hostile(fake, every) as server:
        report = await run([five], _at(server), tmp_path / "j.db", language="English")
        modes = [mode_of(s.body) for s in server.seen]
        prompts = [s.body["messages"][0]["content"] for s in server.seen]
    assert modes == ["json_schema", "tools", "json_object", "text", "text", "text", "text"]
    assert report.totals.repaired == 4
    assert "must match this JSON schema" in prompts[-1]  # plain JSON by instruction carries the schema


async def test_a_200_that_ignores_the_mode_moves_down(five: Path, tmp_path: Path) -> None:
    """A server that takes `tools` but answers in prose (no tool call, no JSON) ignores the mode: the
    next rung is tried, without using up a re-ask."""
    def ignore_tools(body: dict[str, Any]) -> Behaviour:
        if mode_of(body) == "json_schema":
            return Behaviour(refuse=LLAMA_CPP_REFUSAL)
        if mode_of(body) == "tools":
            return Behaviour(prose="Sure! The paper studies anomaly detection and finds it works well.")
        return Behaviour()

    with FakeProvider() as fake, Hostile(fake, ignore_tools) as server:
        report = await run([five], _at(server), tmp_path / "j.db", language="English", reasks=0)
        modes = [mode_of(s.body) for s in server.seen]
    assert report.totals.repaired == 4
    assert modes[:2] == ["json_schema", "tools"] and modes.count("json_object") == 4
    # Requests the pool sent in tools mode before the probe's answer showed it ignored are asked again.
    assert set(modes) == {"json_schema", "tools", "json_object"}
    assert report.totals.requests == len(modes) == sum(e.attempts for e in report.entries)


def test_an_answer_that_ignores_the_mode_moves_down_only_before_the_mode_worked() -> None:
    settled: list[tuple[str, str]] = []
    ladder = Negotiator(on_settle=lambda mode, cap: settled.append((mode, cap)))
    assert ladder.ignored(Mode.JSON_SCHEMA) and ladder.mode is Mode.TOOLS
    ladder.settle(Mode.TOOLS)
    assert not ladder.ignored(Mode.TOOLS) and ladder.mode is Mode.TOOLS  # the model's slip: re-asked
    assert settled == [("tools", "max_tokens")]
    assert not Negotiator(Mode.TEXT).ignored(Mode.TEXT)


async def test_the_working_rung_is_remembered_for_the_next_run(
    seed_subset: Callable[[int], Path], tmp_path: Path
) -> None:
    journal = tmp_path / "j.db"
    with FakeProvider() as fake, Hostile(fake, refusing({"json_schema"}, *LLAMA_CPP_REFUSAL)) as server:
        for n in (1, 2):
            target = tmp_path / f"run{n}.md"
            shutil.copyfile(seed_subset(3), target)
            if journal.exists():  # the same papers again, but not from the journal: asked anew
                with sqlite3.connect(journal) as db:
                    db.execute("DELETE FROM answers")
            report = await run([target], _at(server), journal, language="English")
            assert report.totals.repaired == 2
        modes = [mode_of(s.body) for s in server.seen]
    assert modes == ["json_schema", "tools", "tools"] + ["tools"] * 2  # the second run starts at tools
    with sqlite3.connect(journal) as db:
        rows = db.execute("SELECT endpoint, model, mode, cap_name FROM modes").fetchall()
    assert rows == [(server.base_url, "gpt-4o-mini", "tools", "max_tokens")]


async def test_the_output_cap_goes_under_its_newer_name_when_the_old_one_is_refused(
    five: Path, tmp_path: Path
) -> None:
    def reasoning_model(body: dict[str, Any]) -> Behaviour:
        if "max_tokens" in body:
            return Behaviour(refuse=(400, "Unsupported parameter: 'max_tokens' is not supported with this model. "
                                          "Use 'max_completion_tokens' instead."))
        return Behaviour()

    with FakeProvider() as fake, Hostile(fake, reasoning_model) as server:
        report = await run([five], _at(server), tmp_path / "j.db", language="English")
        caps = [("max_tokens" in s.body, s.body.get("max_completion_tokens")) for s in server.seen]
    assert report.totals.repaired == 4
    assert caps[0] == (True, None) and len(caps) == 5
    assert all(name is False and 0 < int(cap or 0) < 4000 for name, cap in caps[1:])


@pytest.mark.parametrize(("status", "message", "kind"), [
    (500, "Input should be 'text' or 'json_object'", Kind.MODE_REJECTED),
    (500, "The server had an error while processing your request.", Kind.TRANSIENT),
    (400, "'tool_choice' is not supported", Kind.MODE_REJECTED),
    (400, "This model's maximum context length is 4096 tokens.", Kind.ENTRY),
    (500, "Requested tokens (5000) exceed context window of 4096", Kind.ENTRY),
    (400, "Unsupported parameter: 'max_tokens'", Kind.CAP_NAME),
    (400, "max_tokens must be at most 4096", Kind.FATAL),
])
def test_refusals_are_told_apart_by_what_they_say(status: int, message: str, kind: Kind) -> None:
    import httpx2
    import openai

    response = httpx2.Response(status, request=httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions"))
    error = openai.APIStatusError(message, response=response, body={"error": {"message": message}})
    assert classify(error) is kind


def test_validation_failure_is_not_a_provider_error() -> None:
    assert classify(ValidationFailure(["x"])) is None


class _At:
    """The fake's stand-in for `engine.run`: its base URL and key are the hostile server's."""

    def __init__(self, server: Hostile) -> None:
        self.base_url = server.base_url
        self.api_key = "sk-test"


def _at(server: Hostile) -> Any:
    return _At(server)
