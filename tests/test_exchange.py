"""One exchange with a hostile provider, over real HTTP: one deadline for all of it, SSE keep-alives
skipped, bodies and output bounded, abstracts cut, re-asks that do not grow, every request counted, and
credentials in the URL kept out of everything we write."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from engine import run
from hostile import Behaviour, Hostile

from resummarize import load
from resummarize.cli import main
from resummarize.errors import ProviderError
from resummarize.language import resolve
from resummarize.provider.request import MAX_ABSTRACT, SummaryRequest
from resummarize.provider.summarize import EXCERPT, MAX_BODY
from resummarize.provider.wire import from_stream, is_stream, output_cap
from resummarize.testing.server import FakeProvider, Fault, FaultPlan


class _At:
    def __init__(self, server: Hostile) -> None:
        self.base_url = server.base_url


@pytest.fixture
def two(seed_subset: Callable[[int], Path], tmp_path: Path) -> Path:
    """The seed's first two entries: one to repair."""
    target = tmp_path / "two.md"
    shutil.copyfile(seed_subset(2), target)
    return target


@pytest.fixture
def five(seed_subset: Callable[[int], Path], tmp_path: Path) -> Path:
    target = tmp_path / "five.md"
    shutil.copyfile(seed_subset(5), target)
    return target


# --- SSE keep-alives ---------------------------------------------------------------------------------


def test_comment_lines_and_blank_keep_alives_anywhere_in_a_stream_are_skipped() -> None:
    event = {"id": "c", "created": 0, "model": "m", "choices": [{"index": 0, "delta": {"content": "{\"a\": 1}"}}]}
    last = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    raw = (b": ping - 2026-12-06 22:00:00.000000+00:00\r\n\r\n\n\n"
           + b"data: " + json.dumps(event).encode() + b"\r\n\r\n: ping - later\r\n\r\n"
           + b"data: " + json.dumps(last).encode() + b"\n\n:\n\ndata: [DONE]\n\n")
    assert is_stream(raw) and is_stream(b"\n\n: keep-alive\n\ndata: {}\n\n")
    assert not is_stream(b'\n {"choices": []}') and is_stream(b"", "text/event-stream; charset=utf-8")
    completion = from_stream(raw)
    assert completion["choices"][0]["message"]["content"] == '{"a": 1}'
    assert completion["choices"][0]["finish_reason"] == "stop"


async def test_a_stream_that_starts_with_pings_is_an_answer_not_a_reask(five: Path, tmp_path: Path) -> None:
    pinging = lambda body: Behaviour(pings=3) if body.get("stream") else Behaviour()  # noqa: E731
    with FakeProvider() as fake, Hostile(fake, pinging) as server:
        report = await run([five], _At(server), tmp_path / "j.db", language="English")  # type: ignore[arg-type]
        streamed = [s for s in server.seen if s.body.get("stream")]
    assert len(streamed) == 1  # the probe, which got `: ping` lines first
    assert report.totals.repaired == 4 and report.totals.requests == len(server.seen) == 4  # no re-ask


# --- one deadline per exchange ------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [Behaviour(pings=1000, ping_every=0.25), Behaviour(trickle=0.25)],
                         ids=["ping-every-quarter-second", "a-byte-every-quarter-second"])
async def test_the_deadline_covers_the_whole_exchange_whatever_is_trickled(
    two: Path, tmp_path: Path, behaviour: Behaviour
) -> None:
    with FakeProvider() as fake, Hostile(fake, lambda body: behaviour) as server:
        started = time.monotonic()
        report = await run([two], _At(server), tmp_path / "j.db", language="English",  # type: ignore[arg-type]
                           timeout=1.5, attempts=2, reasks=0)
        elapsed = time.monotonic() - started
        sent = len(server.seen)
    (entry,) = report.entries
    assert entry.status == "failed" and "Timeout" in (entry.error or "")
    assert sent == entry.attempts == report.totals.requests == 2
    assert elapsed < 2 * 1.5 + 3.0  # two deadlines and a backoff, not the provider's 250 s


# --- bounds on what comes back and what is sent ------------------------------------------------------


async def test_an_endless_body_is_cut_at_the_bound_and_reasked(two: Path, tmp_path: Path) -> None:
    answers = iter([Behaviour(endless=3 * MAX_BODY), Behaviour()])
    with FakeProvider() as fake, Hostile(fake, lambda body: next(answers)) as server:
        report = await run([two], _At(server), tmp_path / "j.db", language="English")  # type: ignore[arg-type]
        reask = server.seen[1].body["messages"]
    (entry,) = report.entries
    assert entry.status == "repaired" and entry.attempts == 2
    assert "far too long" in reask[-1]["content"]
    assert server.sent_bytes < 3 * MAX_BODY  # the client hung up; nothing like the whole body was read


async def test_every_request_caps_its_output(five: Path, tmp_path: Path) -> None:
    with FakeProvider() as fake:
        await run([five], fake, tmp_path / "j.db", language="English")
        caps = {r.body["max_tokens"] for r in fake.requests}
    english = output_cap(("tldr", "motivation", "method", "result", "conclusion"), resolve("English"))
    chinese = output_cap(("tldr", "motivation", "method", "result", "conclusion"), resolve("Chinese"))
    assert caps == {english} and 1000 < english < chinese < 5000


def test_a_long_abstract_is_cut_once_when_the_question_is_made() -> None:
    """The model is asked about, and its answer judged against, the same cut text."""
    request = SummaryRequest(paper_id="1", title="t", abstract="A figure: 12. " * 1_000, language=resolve("English"),
                             keys=("tldr",))
    assert len(request.abstract) == MAX_ABSTRACT and request.cut_from == 14_000
    assert request.note == "abstract cut to 6,000 of its 14,000 characters"
    whole = SummaryRequest(paper_id="1", title="t", abstract="short", language=resolve("English"), keys=("tldr",))
    assert whole.abstract == "short" and whole.note is None


async def test_an_abstract_longer_than_any_real_one_is_cut_before_it_is_sent(two: Path, tmp_path: Path) -> None:
    text = two.read_text(encoding="utf-8")
    marker = "\nAbstract: "
    assert text.count(marker) == 2
    at = text.rindex(marker) + len(marker)
    two.write_text(text[:at] + "We study long inputs. " * 2_500 + text[at:], encoding="utf-8")  # 55,000 characters
    with FakeProvider() as fake:
        report = await run([two], fake, tmp_path / "j.db", language="English")
        sent = fake.requests[0].body["messages"][1]["content"]
    (entry,) = report.entries
    assert entry.status == "repaired" and "abstract cut to 6,000 of its 5" in (entry.note or "")
    assert len(sent) < MAX_ABSTRACT + 1_000
    assert '"note"' in report.to_json()


# --- re-asks that do not grow --------------------------------------------------------------------------


async def test_a_reask_is_the_original_request_plus_a_bounded_correction(two: Path, tmp_path: Path) -> None:
    words = "Let me think about this paper. " * 260  # 8,000 characters a field: a 40,000-character answer
    runaway = json.dumps({key: words for key in ("tldr", "motivation", "method", "result", "conclusion", "evidence")})
    answers = iter([Behaviour(prose=runaway), Behaviour(prose=runaway), Behaviour(prose=runaway), Behaviour()])
    with FakeProvider() as fake, Hostile(fake, lambda body: next(answers)) as server:
        report = await run([two], _At(server), tmp_path / "j.db", language="English",  # type: ignore[arg-type]
                           reasks=3)
        bodies = [s.body for s in server.seen]
    sizes = [len(json.dumps(b)) for b in bodies]
    assert report.entries[0].status == "repaired" and report.entries[0].attempts == 4
    assert [len(b["messages"]) for b in bodies] == [2, 4, 4, 4]
    assert all(b["messages"][:2] == bodies[0]["messages"][:2] for b in bodies)  # the original request
    assert len(bodies[1]["messages"][2]["content"]) < EXCERPT + 100
    assert sizes[1] == sizes[2] == sizes[3] < sizes[0] + 3 * EXCERPT  # was 3.9 -> 124 -> 245 kB


async def test_a_context_window_error_on_a_reask_is_reported_as_what_it_is(five: Path, tmp_path: Path) -> None:
    paper = load(five).entries[2].id
    plan = FaultPlan.per_paper({paper: [Fault.WRONG_LANGUAGE, Fault.CONTEXT_LENGTH]})
    with FakeProvider(faults=plan) as fake:
        report = await run([five], fake, tmp_path / "j.db", language="English")
    failed = [e for e in report.entries if e.status == "failed"]
    assert [(e.id, e.attempts) for e in failed] == [(paper, 2)]
    assert "a re-ask) exceeds the model's context window: HTTP 400: This model's maximum context length" in str(
        failed[0].error)


# --- true counts -------------------------------------------------------------------------------------------


async def test_a_stopped_run_counts_every_request_and_the_attempts_in_flight(tmp_path: Path,
                                                                             seed_path: Path) -> None:
    seed = tmp_path / "seed.md"
    shutil.copyfile(seed_path, seed)
    with FakeProvider(faults=FaultPlan.always(Fault.PLACEHOLDER), latency=0.05) as fake:
        with pytest.raises(ProviderError, match="first 3 papers all failed") as caught:
            await run([seed], fake, tmp_path / "j.db", language="English", concurrency=4)
        await asyncio.sleep(0.5)  # requests cut short by the stop reach the fake's log once it answers them
        log = fake.requests
    report = caught.value.report
    assert report is not None
    asked: dict[str, int] = {}
    for record in log:
        asked[str(record.paper_id)] = asked.get(str(record.paper_id), 0) + 1
    assert report.totals.requests == caught.value.requests == len(log)
    attempts = {e.id: e.attempts for e in report.entries}  # type: ignore[attr-defined]
    assert {paper: attempts[paper] for paper in asked} == asked  # in flight when the run stopped, too
    assert all(n == 0 for paper, n in attempts.items() if paper not in asked)


# --- credentials in the URL ----------------------------------------------------------------------------


def _repair_cli(two: Path, tmp_path: Path, url: str, key: str | None, monkeypatch: pytest.MonkeyPatch,
                capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    if key is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    code = main(["repair", str(two), "--language", "English", "--base-url", url, "--cache",
                 str(tmp_path / "j.db"), "--report", str(tmp_path / "report.json"), "--timeout", "5", *extra])
    return code, capsys.readouterr().err


def _everything_written(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_credentials_in_the_url_never_reach_output_reports_journals_or_cassettes_and_the_key_is_sent(
    two: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeProvider() as fake, Hostile(fake, lambda body: Behaviour()) as server:
        url = server.base_url.replace("http://", "http://maintainer:hunter2pw@")
        code, err = _repair_cli(two, tmp_path, url, "sk-test", monkeypatch, capsys,
                                "--record", str(tmp_path / "cassette"))
        auth = {s.headers.get("authorization") for s in server.seen}
    assert code == 0 and auth == {"Bearer sk-test"}  # the key went, the URL's credentials did not replace it
    assert (tmp_path / "cassette" / "cassette.yaml").is_file()
    assert b"hunter2pw" not in _everything_written(tmp_path) and "hunter2pw" not in err


def test_credentials_in_a_url_that_fails_are_redacted_and_sent_as_basic_auth_without_a_key(
    two: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeProvider() as fake, Hostile(fake, lambda body: Behaviour(refuse=(401, "bad credentials"))) as server:
        url = server.base_url.replace("http://", "http://maintainer:hunter2pw@")
        code, err = _repair_cli(two, tmp_path, url, None, monkeypatch, capsys)
        auth = {s.headers.get("authorization") for s in server.seen}
    assert code == 3 and auth == {"Basic " + base64.b64encode(b"maintainer:hunter2pw").decode()}
    assert "hunter2pw" not in err and b"hunter2pw" not in _everything_written(tmp_path)
    code, err = _repair_cli(two, tmp_path, "http://maintainer:hunter2pw@127.0.0.1:9/v1", "sk-test", monkeypatch,
                            capsys)
    assert code == 3 and "127.0.0.1:9" in err and "hunter2pw" not in err


def test_redaction_of_urls_in_any_text() -> None:
    from resummarize.provider.wire import redact, split_credentials

    assert redact("cannot reach https://u:p@host:8/v1 and ftp://x@y", None) == \
        "cannot reach https://***@host:8/v1 and ftp://***@y"
    assert split_credentials("http://u:p%40ss@[::1]:8080/v1?x=1") == ("http://[::1]:8080/v1?x=1", ("u", "p%40ss"))
    assert split_credentials("http://host/v1") == ("http://host/v1", None)
