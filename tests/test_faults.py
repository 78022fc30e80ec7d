"""Faults over real HTTP (the fake provider): retries, re-asks, negotiation, cool-downs, fatal stops."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest
from engine import run

from resummarize import load
from resummarize.config import Settings
from resummarize.errors import ProviderError
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider, Fault, FaultPlan

KEY = "sk-live-0123456789abcdefSECRET"


@pytest.fixture
def seed_copy(tmp_path: Path, seed_path: Path) -> Path:
    target = tmp_path / "seed.md"
    shutil.copyfile(seed_path, target)
    return target


async def test_half_of_all_requests_faulted_still_repairs_everything(seed_copy: Path, tmp_path: Path) -> None:
    kinds = [kind for kind in Fault if kind not in (Fault.BAD_KEY, Fault.CONTEXT_LENGTH)]
    _, before = scan_file(seed_copy, Settings(language="English"))
    rng = random.Random(7)
    stories: dict[str, list[Fault]] = {}
    for i, item in enumerate(before.needs_repair[::2]):  # every other paper meets faults first
        story = [kinds[i % len(kinds)]]  # so that every kind is met
        while len(story) < 3 and rng.random() < 0.5:  # and up to three in a row: the provider answers in the end
            story.append(rng.choice(kinds))
        stories[item.id] = story
    with FakeProvider(faults=FaultPlan.per_paper(stories), timeout_hold=2.0) as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English", timeout=0.5)
        log = fake.requests
    faulted = [r for r in log if r.fault is not None]
    assert {r.fault for r in faulted} == set(kinds)  # every kind was met
    assert 0.35 < len(faulted) / len(log) < 0.65
    assert (report.totals.repaired, report.totals.failed) == (96, 0)
    _, scan = scan_file(seed_copy, Settings(language="English"))
    assert scan.needs_repair == []
    text = seed_copy.read_text()
    assert "<script>" not in text and "\t" not in text and "\x08" not in text


async def test_reask_sends_the_problem_back(seed_copy: Path, tmp_path: Path) -> None:
    paper = load(seed_copy).entries[1].id
    plan = FaultPlan.per_paper({paper: [Fault.WRONG_LANGUAGE]})
    with FakeProvider(faults=plan) as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English", concurrency=1)
        mine = [r for r in fake.requests if r.paper_id == paper]
    assert report.totals.failed == 0 and len(mine) == 2
    retry = mine[1].body["messages"]
    assert retry[-2]["role"] == "assistant" and "该论文" in retry[-2]["content"]
    assert "English" in retry[-1]["content"] and retry[-1]["role"] == "user"
    entry = next(e for e in report.entries if e.id == paper)
    assert entry.attempts == 2


@pytest.mark.parametrize("fault", [Fault.SWAPPED, Fault.FOREIGN_EVIDENCE])
async def test_an_answer_about_another_paper_is_rejected_and_reasked(
    seed_copy: Path, tmp_path: Path, fault: Fault
) -> None:
    entry = load(seed_copy).entries[1]
    plan = FaultPlan.per_paper({entry.id: [fault]})
    with FakeProvider(faults=plan) as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English", concurrency=1)
        mine = [r for r in fake.requests if r.paper_id == entry.id]
    assert report.totals.failed == 0 and len(mine) == 2
    first = mine[0].body["messages"]
    assert '"evidence"' in first[0]["content"]  # the prompt asks for the phrase
    retry = mine[1].body["messages"]
    assert "Recent diffusion-based policies" in retry[-2]["content"]  # the other abstract's phrase went back
    # That paper is in no digest of the run: the model is told to copy from this abstract, exactly.
    assert "not a phrase of this paper's abstract" in retry[-1]["content"] and "exactly" in retry[-1]["content"]
    repaired = load(seed_copy).entries[1].fields
    assert "diffusion" not in repaired["tldr"] and "evidence" not in repaired  # never written


@pytest.mark.parametrize(
    ("rejected", "settled"),
    [({"json_schema"}, "tools"), ({"json_schema", "tools"}, "json_object"),
     ({"json_schema", "json_object", "tools"}, "text")],
)
async def test_structured_output_is_negotiated_once(
    seed_copy: Path, tmp_path: Path, rejected: set[str], settled: str
) -> None:
    with FakeProvider(reject_modes=rejected) as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English")
        modes = [r.mode for r in fake.requests]
    assert report.totals.repaired == 96
    assert modes[: len(rejected)] == [m for m in ("json_schema", "tools", "json_object") if m in rejected]
    assert modes[len(rejected):] == [settled] * 96  # remembered for the rest of the run


async def test_retry_after_pauses_every_worker(seed_copy: Path, tmp_path: Path) -> None:
    second = load(seed_copy).entries[2].id  # the first live request goes alone; this one is in the pool
    plan = FaultPlan.per_paper({second: [Fault.HTTP_429]})
    with FakeProvider(faults=plan, latency=0.05) as fake:
        await run([seed_copy], fake, tmp_path / "j.db", language="English", concurrency=8)
        log = fake.requests
    hit = next(r for r in log if r.fault is Fault.HTTP_429)
    # Retry-After: 1 — nobody sends anything new during that second (in-flight requests aside).
    during = [r for r in log if hit.time + 0.1 < r.time < hit.time + 0.9]
    assert during == []
    assert any(r.time >= hit.time + 0.95 for r in log)


async def test_server_limits_are_respected(seed_copy: Path, tmp_path: Path) -> None:
    with FakeProvider(max_concurrency=4, latency=0.05) as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English", concurrency=4)
        assert fake.max_in_flight <= 4 and fake.count(status=429) == 0
    assert report.totals.requests == 96


async def test_wrong_key_stops_at_once_and_leaks_nowhere(seed_copy: Path, tmp_path: Path) -> None:
    before = seed_copy.read_bytes()
    with FakeProvider(api_key="sk-the-right-one") as fake:
        with pytest.raises(ProviderError) as caught:
            await run([seed_copy], fake, tmp_path / "j.db", language="English", key=KEY)
        assert fake.count() <= 2
    assert caught.value.exit_code == 3 and KEY not in str(caught.value)
    assert seed_copy.read_bytes() == before
    journal = b"".join(p.read_bytes() for p in tmp_path.glob("j.db*"))
    assert b"SECRET" not in journal


async def test_same_failure_on_the_first_papers_stops_the_run(seed_copy: Path, tmp_path: Path) -> None:
    with FakeProvider(faults=FaultPlan.always(Fault.PLACEHOLDER)) as fake:
        with pytest.raises(ProviderError, match="first 3 papers all failed"):
            await run([seed_copy], fake, tmp_path / "j.db", language="English", concurrency=2)
        assert fake.count() < 96  # far from burning through the digest


async def test_unknown_model_is_fatal(seed_copy: Path, tmp_path: Path) -> None:
    with FakeProvider() as fake:
        with pytest.raises(ProviderError, match="404") as caught:
            await run([seed_copy], fake, tmp_path / "j.db", language="English", model="no-such-model")
        assert fake.count() == 1
    assert caught.value.report is not None


async def test_validated_answers_survive_a_fatal_stop(seed_copy: Path, tmp_path: Path) -> None:
    entries = load(seed_copy).entries
    broken = [e.id for e in entries if e.id not in ("2601.18800", "2601.19085", "2601.19179")]
    plan = FaultPlan.per_paper({broken[5]: [Fault.BAD_KEY]})
    with FakeProvider(faults=plan) as fake, pytest.raises(ProviderError):
        await run([seed_copy], fake, tmp_path / "j.db", language="English", concurrency=1)
    with sqlite3.connect(tmp_path / "j.db") as db:
        stored = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    assert stored == 5
    _, scan = scan_file(seed_copy, Settings(language="English"))
    assert len(scan.needs_repair) == 96 - 5  # what was validated was written


async def test_a_paper_too_long_for_the_context_fails_alone(seed_copy: Path, tmp_path: Path) -> None:
    long_one = load(seed_copy).entries[3].id
    with FakeProvider(faults=FaultPlan.per_paper({long_one: [Fault.CONTEXT_LENGTH]})) as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English")
        asked = [r.paper_id for r in fake.requests if r.paper_id == long_one]
    failed = [e for e in report.entries if e.status == "failed"]
    assert [(e.id, e.attempts) for e in failed] == [(long_one, 1)]
    assert "exceeds the model's context window: HTTP 400: This model's maximum context length is 8192" in str(
        failed[0].error)
    assert report.totals.repaired == 95 and len(asked) == 1  # not retried, not fatal


HOSTILE = [Fault.HOSTILE_IMG, Fault.HOSTILE_SVG, Fault.HOSTILE_IFRAME, Fault.HOSTILE_COMMENT, Fault.HUGE_WORD,
           Fault.BIDI, Fault.INVENTED_NUMBERS, Fault.MIXED_LANGUAGE]


async def test_hostile_answers_are_reasked_and_never_reach_the_digest(seed_copy: Path, tmp_path: Path) -> None:
    _, scan = scan_file(seed_copy, Settings(language="English"))
    papers = [item.id for item in scan.needs_repair][: len(HOSTILE)]
    plan = FaultPlan.per_paper({paper: [kind] for paper, kind in zip(papers, HOSTILE, strict=True)})
    with FakeProvider(faults=plan) as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English", concurrency=2)
        log = fake.requests
    assert (report.totals.repaired, report.totals.failed) == (96, 0)
    for paper, kind in zip(papers, HOSTILE, strict=True):
        mine = [r for r in log if r.paper_id == paper]
        assert [r.fault for r in mine] == [kind, None], paper  # rejected once, asked again
        sent = mine[1].body["messages"]
        assert sent[-2]["role"] == "assistant" and sent[-1]["role"] == "user"
        assert 'Field "tldr"' in sent[-1]["content"] and "cannot be used" in sent[-1]["content"]
        assert len(sent[-1]["content"]) < 2000  # the problem is named, the 50 kB word is not echoed
    text = seed_copy.read_text(encoding="utf-8")
    for needle in ("<img", "<svg", "<iframe", "<!--", "AAAAAAAAAA", "\u202e", "4711", "该方法在所有基准上"):
        assert needle not in text
