"""Pacing over real HTTP (the fake provider): the window adapts to a server that queues or refuses, and
every wait the provider asks for is announced or, beyond the cap, stops the run naming the header."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from engine import first_papers, run

from resummarize.cli import main
from resummarize.errors import ProviderError
from resummarize.testing.server import FakeProvider, FaultPlan


async def test_a_one_slot_server_gets_its_answers_delivered(seed_path: Path, tmp_path: Path) -> None:
    """A server that computes one answer at a time and keeps the others in line (llama.cpp's), with the
    default 8 in flight and a deadline that 8 in line overrun: the window falls, requests are delivered
    instead of timing out. (Before: the last places in line timed out over and over while the server
    computed every abandoned request anyway: 50 requests for 29 papers, twice the wall time.)"""
    digest = first_papers(seed_path, tmp_path / "d.md", 30)
    with FakeProvider(max_concurrency=1, when_busy="queue", latency=0.15) as fake:
        report = await run([digest], fake, tmp_path / "j.db", language="English", timeout=0.5)
    assert (report.totals.repaired, report.totals.failed) == (29, 0)  # one of the 30 is good already
    timed_out = report.totals.requests - report.totals.repaired
    assert timed_out <= 12  # mostly the first round, 8 sent before any answer came back (before: 21)


async def test_a_server_at_capacity_that_says_503_is_asked_less(seed_path: Path, tmp_path: Path) -> None:
    """Two at once, a bare 503 beyond: the window comes down to what the server takes."""
    digest = first_papers(seed_path, tmp_path / "d.md", 30)
    with FakeProvider(max_concurrency=2, when_busy="503", latency=0.1) as fake:
        report = await run([digest], fake, tmp_path / "j.db", language="English")
        refused = fake.count(status=503)
    assert (report.totals.repaired, report.totals.failed) == (29, 0)  # one of the 30 is good already
    assert refused <= 12  # before: about 6 of every 8 requests, again after every backoff


async def test_a_retry_after_is_announced(seed_path: Path, tmp_path: Path) -> None:
    digest = first_papers(seed_path, tmp_path / "d.md", 4)
    told: list[str] = []
    with FakeProvider(faults=FaultPlan.sequence([None, "http_429"])) as fake:
        report = await run([digest], fake, tmp_path / "j.db", language="English", on_wait=told.append)
    assert report.totals.repaired == report.totals.needs_repair == 3
    assert told == ["waiting 1 s, as the provider asks (retry-after-ms: 1000)"]


async def test_a_retry_after_beyond_the_cap_stops_the_run(seed_path: Path, tmp_path: Path) -> None:
    digest = first_papers(seed_path, tmp_path / "d.md", 4)
    with FakeProvider(faults=FaultPlan.sequence([None, "http_429"])) as fake:
        with pytest.raises(ProviderError, match=r"retry-after-ms: 1000\), more than the 0.5 s allowed"):
            await run([digest], fake, tmp_path / "j.db", language="English", max_wait=0.5, concurrency=1)
        assert fake.count() == 2


def test_a_budget_reset_in_99999h_ends_the_run_at_once(
        seed_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`x-ratelimit-remaining-requests: 0` with `x-ratelimit-reset-requests: 99999h` used to hold the run
    silently forever: now exit 3 naming the header, after one request, with its answer written."""
    digest = first_papers(seed_path, tmp_path / "d.md", 10)
    spent = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999h"}
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with FakeProvider(extra_headers=spent) as fake:
        started = time.monotonic()
        code = main(["repair", str(digest), "--language", "English", "--base-url", fake.base_url,
                     "--cache", str(tmp_path / "j.db")])
        elapsed = time.monotonic() - started
        requests = fake.count()
    err = capsys.readouterr().err
    assert code == 3, err
    assert "x-ratelimit-reset-requests: 99999h" in err and "--max-wait" in err
    assert "Traceback" not in err
    assert requests == 1
    assert elapsed < 30
    assert "Summary generation failed" not in digest.read_text(encoding="utf-8").split("### [2]")[0]
