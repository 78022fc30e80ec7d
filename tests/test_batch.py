"""The Batch API path against the fake provider: one batch per piece of work, resumed, never paid twice."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from resummarize.batch import (
    CUSTOM_ID_LIMIT,
    DONE,
    custom_id,
    work_identity,
)
from resummarize.cli import main
from resummarize.config import RepairOptions, Settings
from resummarize.cost import PRICES_AS_OF, estimate_cost, price
from resummarize.engine import repair
from resummarize.errors import BatchPending, BatchUnfinished, ProviderError
from resummarize.journal import Journal
from resummarize.plan import Job, prepare, scan_paths
from resummarize.provider import wire
from resummarize.provider.prompts import load_prompts
from resummarize.report import RepairReport, ReportTotals
from resummarize.testing.batches import BatchSettings
from resummarize.testing.server import FakeProvider, FaultPlan

OLD = "2025-03-20_AI_enhanced_Chinese.jsonl"  # old schema (`task`): 8 entries to repair, 4 distinct papers
FEW = "2025-10-23_AI_enhanced_Chinese.jsonl"  # three failed entries
QUESTIONS = 7  # distinct papers to ask about in OLD and FEW together
CHAT = "/v1/chat/completions"
CUSTOM_ID = re.compile(r"^(\d+):(\d+|new):(\S+)$")
Connect = Callable[..., openai.AsyncOpenAI]


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Real SDK clients (no SDK retries) for a fake provider; closed after the test."""
    clients: list[openai.AsyncOpenAI] = []

    def make(fake: FakeProvider, key: str = "sk-test", timeout: float = 5.0) -> openai.AsyncOpenAI:
        client = wire.client(key, fake.base_url, timeout)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def copy(corpus_dir: Path, target: Path, names: Sequence[str] = ()) -> Path:
    """A writable copy of the corpus's JSONL files (or of some of its files); upstream's markdown digests are
    renderings of the same papers."""
    if not names:
        shutil.copytree(corpus_dir, target, ignore=shutil.ignore_patterns("*.md"))
        return target
    target.mkdir()
    for name in names:
        shutil.copyfile(corpus_dir / name, target / name)
    return target


def jobs_of(folder: Path) -> list[Job]:
    jobs: list[Job] = []
    prepare([folder], RepairOptions(), load_prompts(), on_jobs=jobs.extend)
    return jobs


def needs_repair(folder: Path) -> int:
    return sum(len(scan.needs_repair) for _, scan in scan_paths([folder], Settings()))


async def batch(folder: Path, client: openai.AsyncOpenAI, journal: Journal, *, wait: bool = True,
                **options: Any) -> RepairReport:
    return await repair([folder], RepairOptions(batch=True, wait=wait, poll_interval=0.02, **options), client=client,
                        journal=journal, prompts=load_prompts())


def uploads(fake: FakeProvider) -> int:
    """Input files uploaded to the fake."""
    return sum(1 for r in fake.requests if (r.method, r.path) == ("POST", "/v1/files"))


async def uploaded(client: openai.AsyncOpenAI, batch_id: str) -> list[dict[str, Any]]:
    """The input file a batch was created from, as the provider stored it."""
    stored = await client.batches.retrieve(batch_id)
    content = await client.files.content(stored.input_file_id)
    return [json.loads(line) for line in content.content.splitlines()]


async def test_corpus_one_batch_then_reruns_are_free(corpus_dir: Path, tmp_path: Path, connect: Connect) -> None:
    folder = copy(corpus_dir, tmp_path / "a")
    jobs = jobs_of(folder)
    with FakeProvider() as fake, Journal(tmp_path / "j.sqlite3") as journal:
        report = await batch(folder, connect(fake), journal)
        assert fake.batches == 1 and fake.count(CHAT) == 0  # nothing needed the live path
        state = journal.batch(work_identity(jobs))
        assert state is not None and state[1] == DONE
        assert (report.totals.needs_repair, report.totals.repaired, report.totals.failed) == (73, 73, 0)
        lines = len(await uploaded(connect(fake), state[0]))
        assert report.totals.batch_lines == lines < 72  # a paper present in two files is asked once
        assert (report.totals.requests, report.totals.batch_errors) == (0, 0)  # no live request
        assert report.totals.prompt_tokens > 0 and report.totals.completion_tokens > 0
        assert needs_repair(folder) == 0

        fake.reset_log()
        again = await batch(folder, connect(fake), journal)  # the repaired folder: nothing to do
        fresh = copy(corpus_dir, tmp_path / "b")  # the broken folder again: all from the journal
        cached = await batch(fresh, connect(fake), journal)
        assert fake.count() == 0 and fake.batches == 1
    assert again.totals.needs_repair == 0 and again.totals.requests == 0
    assert (cached.cached, cached.totals.repaired, cached.totals.requests) == (73, 73, 0)
    for path in folder.iterdir():
        assert (fresh / path.name).read_bytes() == path.read_bytes()


async def test_lines_ask_what_the_live_path_asks(corpus_dir: Path, tmp_path: Path, connect: Connect) -> None:
    folder = copy(corpus_dir, tmp_path / "batch", [FEW, OLD])
    live_folder = copy(corpus_dir, tmp_path / "live", [FEW, OLD])
    jobs = jobs_of(folder)
    files = sorted(p.name for p in folder.iterdir())
    with FakeProvider() as fake, Journal(tmp_path / "j.sqlite3") as journal:
        await batch(folder, connect(fake), journal)
        state = journal.batch(work_identity(jobs))
        assert state is not None
        lines = await uploaded(connect(fake), state[0])
        create = next(r.body for r in fake.requests if (r.method, r.path) == ("POST", "/v1/batches"))
    assert create["endpoint"] == CHAT and create["completion_window"] == "24h"
    with FakeProvider() as fake, Journal(tmp_path / "live.sqlite3") as journal:
        await repair([live_folder], RepairOptions(), client=connect(fake), journal=journal, prompts=load_prompts())
        # the run's first request is streamed (the probe): otherwise the same body
        live = {r.paper_id: {k: v for k, v in r.body.items() if k not in ("stream", "stream_options")}
                for r in fake.requests}

    assert len(jobs) == 11 and len(lines) == QUESTIONS  # a paper listed twice is asked once
    assert {CUSTOM_ID.sub(r"\3", line["custom_id"]) for line in lines} == {job.entry.id for job in jobs}
    for line in lines:
        found = CUSTOM_ID.match(line["custom_id"])
        assert found is not None and len(line["custom_id"]) <= CUSTOM_ID_LIMIT
        file_index, where, paper = found.groups()
        assert any(j.file.path.name == files[int(file_index)] and str(j.index) == where
                   and j.entry.id == paper for j in jobs)
        assert (line["method"], line["url"]) == ("POST", CHAT)
        body = line["body"]
        assert body == live[paper]  # same model, prompts and schema as a live request
        assert body["model"] == "gpt-4o-mini"
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
        wanted = "task" if files[int(file_index)] == OLD else "tldr"
        assert wanted in fmt["json_schema"]["schema"]["properties"]


async def test_pending_then_wait_finishes_the_same_batch(
    corpus_dir: Path, tmp_path: Path, connect: Connect
) -> None:
    folder = copy(corpus_dir, tmp_path / "data", [FEW])
    original = (folder / FEW).read_bytes()
    with FakeProvider(batch_delay=0.3) as fake, Journal(tmp_path / "j.sqlite3") as journal:
        with pytest.raises(BatchPending) as pending:
            await batch(folder, connect(fake), journal, wait=False)
        assert (folder / FEW).read_bytes() == original  # nothing written while the batch runs
        status = pending.value.status  # the fake validates for the first tenth of its delay, then runs
        assert journal.batch(work_identity(jobs_of(folder))) == (pending.value.batch_id, status)
        report = await batch(folder, connect(fake), journal, wait=True)
        assert fake.batches == 1 and fake.count(CHAT) == 0
    assert pending.value.exit_code == 1 and status in ("validating", "in_progress")
    assert str(pending.value) == (f"batch {pending.value.batch_id} is {status}: run the same command again "
                                  "later (or add --wait)")
    assert (report.totals.repaired, report.totals.failed) == (3, 0)
    assert needs_repair(folder) == 0


@pytest.mark.parametrize("outcome", ["failed", "expired"])
async def test_a_failed_or_expired_batch_stops_with_the_live_price_instead_of_going_live(
    outcome: str, corpus_dir: Path, tmp_path: Path, connect: Connect
) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW, OLD])
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    settings = BatchSettings(outcome=outcome, seed=1)
    with FakeProvider(batch=settings) as fake, Journal(tmp_path / "j.sqlite3") as journal:
        with pytest.raises(BatchUnfinished) as stopped:
            await batch(folder, connect(fake), journal)
        assert fake.count(CHAT) == 0 and fake.batches == 1  # nothing went live
        after = {path.name: path.read_bytes() for path in folder.iterdir()}
        with pytest.raises(BatchUnfinished):  # a rerun says the same, and creates nothing
            await batch(folder, connect(fake), journal)
        assert fake.count(CHAT) == 0 and fake.batches == 1
        report = await batch(folder, connect(fake), journal, finish_live=True)  # the user allows it
        live = fake.count(CHAT)
    message, first = str(stopped.value), stopped.value.report
    assert stopped.value.exit_code == 1 and isinstance(first, RepairReport)
    assert re.search(rf"batch batch_\w+ ended {outcome}", message) and "--finish-live" in message
    assert re.search(r"asking them live would cost about \$0\.\d{4} \(~[\d,]+ prompt", message)
    found = re.search(r"(\d+) question\(s\)", message)
    assert found is not None
    unanswered = int(found.group(1))
    if outcome == "failed":
        assert "token_limit_exceeded: Enqueued token limit reached" in message and unanswered == QUESTIONS
        assert after == before
    else:
        assert f"{unanswered} line(s) in its error file" in message and 0 < unanswered < QUESTIONS
        assert first.totals.repaired > 0 and after != before  # what the batch did answer is written
    assert first.totals.requests == 0 and first.totals.failed > 0
    assert live == unanswered and report.totals.requests == unanswered  # finished live, once each
    assert needs_repair(folder) == 0


async def test_error_lines_count_apart_and_go_live_only_when_allowed(
    corpus_dir: Path, tmp_path: Path, connect: Connect
) -> None:
    folder = copy(corpus_dir, tmp_path / "a")
    with FakeProvider(batch=BatchSettings(error_rate=0.3)) as fake, Journal(tmp_path / "j.sqlite3") as journal:
        with pytest.raises(BatchUnfinished) as stopped:
            await batch(folder, connect(fake), journal)
        assert fake.count(CHAT) == 0
        report = await batch(folder, connect(fake), journal, finish_live=True)
        assert fake.batches == 1
    first = stopped.value.report
    assert isinstance(first, RepairReport)
    lines, errors = first.totals.batch_lines, first.totals.batch_errors
    assert 0 < errors < lines and first.totals.requests == 0
    assert f"{errors} line(s) in its error file" in str(stopped.value)
    # The rerun reads no batch again: its live requests are the error lines' questions, counted apart.
    assert (report.totals.batch_lines, report.totals.requests) == (0, errors)
    assert first.totals.repaired + report.totals.repaired == 73 and needs_repair(folder) == 0


async def test_bad_lines_go_live_when_allowed(corpus_dir: Path, tmp_path: Path, connect: Connect) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW, OLD])
    papers = [job.entry.id for job in jobs_of(folder)]
    faults = dict(zip(papers, [["wrong_language"], ["placeholder"], ["http_500"], ["refusal"]], strict=False))
    with FakeProvider(faults=FaultPlan.per_paper(faults)) as fake, Journal(tmp_path / "j.sqlite3") as journal:
        report = await batch(folder, connect(fake), journal, finish_live=True)
        live = [r.paper_id or "" for r in fake.requests if r.path == CHAT]
        assert fake.batches == 1
    assert sorted(live) == sorted(faults)  # exactly the four bad lines, once each
    assert (report.totals.repaired, report.totals.failed) == (11, 0)
    assert (report.totals.batch_lines, report.totals.batch_errors, report.totals.requests) == (QUESTIONS, 1, 4)
    assert needs_repair(folder) == 0


@pytest.mark.parametrize("idempotency", [False, True])
async def test_a_lost_create_reply_makes_one_batch(
    idempotency: bool, corpus_dir: Path, tmp_path: Path, connect: Connect
) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    settings = BatchSettings(create_delay=1.0, idempotency=idempotency)
    with FakeProvider(batch=settings) as fake, Journal(tmp_path / "j.sqlite3") as journal:
        report = await batch(folder, connect(fake, timeout=0.4), journal)
        creates = [r for r in fake.requests if (r.method, r.path) == ("POST", "/v1/batches")]
        assert fake.batches == 1 and uploads(fake) == 1 and fake.count(CHAT) == 0
    keys = {r.headers.get("idempotency-key") for r in creates}
    assert len(keys) == 1 and str(keys.pop()).startswith("resummarize-")  # the same key on every try
    assert report.totals.repaired == 3 and needs_repair(folder) == 0


async def test_a_run_killed_before_the_create_reply_is_resumed_by_the_next_run(
    corpus_dir: Path, tmp_path: Path, connect: Connect
) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    with FakeProvider(batch=BatchSettings(create_delay=1.0)) as fake:
        with Journal(tmp_path / "first.sqlite3") as journal, pytest.raises(ProviderError):
            await batch(folder, connect(fake, timeout=0.4), journal, attempts=1)  # gives up: as if killed
        assert fake.batches == 1
        with Journal(tmp_path / "second.sqlite3") as journal:  # not even the journal knows of it
            report = await batch(folder, connect(fake), journal)
        assert fake.batches == 1 and uploads(fake) == 1 and fake.count(CHAT) == 0
    assert report.totals.repaired == 3


async def test_a_failed_batch_found_at_the_provider_is_named_not_paid_again(
    corpus_dir: Path, tmp_path: Path, connect: Connect
) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    with FakeProvider(batch_outcome="failed") as fake:
        with Journal(tmp_path / "first.sqlite3") as journal, pytest.raises(BatchUnfinished) as first:
            await batch(folder, connect(fake), journal)
        with Journal(tmp_path / "second.sqlite3") as journal, pytest.raises(BatchUnfinished) as second:
            await batch(folder, connect(fake), journal)
        assert fake.batches == 1 and fake.count(CHAT) == 0
    batch_id = re.search(r"batch (batch_\w+) ended failed", str(first.value))
    assert batch_id is not None and batch_id.group(1) in str(second.value)


async def test_crash_after_create_resumes_the_journaled_batch(
    corpus_dir: Path, tmp_path: Path, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    work = work_identity(jobs_of(folder))
    with FakeProvider() as fake, Journal(tmp_path / "j.sqlite3") as journal:
        doomed = connect(fake)

        async def crash(*_: object, **__: object) -> None:
            raise RuntimeError("killed")

        monkeypatch.setattr(doomed.batches, "retrieve", crash)
        with pytest.raises(RuntimeError, match="killed"):
            await batch(folder, doomed, journal)
        created = journal.batch(work)
        assert created is not None and created[1] == "validating" and fake.batches == 1
        report = await batch(folder, connect(fake), journal)
        assert fake.batches == 1 and journal.batch(work) == (created[0], DONE)
    assert (report.totals.repaired, report.totals.failed) == (3, 0)


async def test_transient_errors_are_retried(
    corpus_dir: Path, tmp_path: Path, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    with FakeProvider() as fake, Journal(tmp_path / "j.sqlite3") as journal:
        client = connect(fake)
        real, calls = client.batches.retrieve, []

        async def flaky(batch_id: str) -> Any:
            calls.append(batch_id)
            if len(calls) == 1:
                raise openai.APIConnectionError(request=httpx2.Request("GET", fake.base_url))
            return await real(batch_id)

        monkeypatch.setattr(client.batches, "retrieve", flaky)
        report = await batch(folder, client, journal)
    assert len(calls) == 2 and report.totals.repaired == 3


async def test_rejected_key_stops_before_any_batch(corpus_dir: Path, tmp_path: Path, connect: Connect) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    original = (folder / FEW).read_bytes()
    with FakeProvider() as fake, Journal(tmp_path / "j.sqlite3") as journal:
        with pytest.raises(ProviderError) as stopped:
            await batch(folder, connect(fake, key="sk-wrong"), journal)
        assert fake.batches == 0 and fake.count() == 1  # the look for an earlier batch, refused
    assert stopped.value.exit_code == 3 and stopped.value.status == 401
    assert "API key" in str(stopped.value) and "sk-wrong" not in str(stopped.value)
    assert isinstance(stopped.value.report, RepairReport)
    assert [e.status for e in stopped.value.report.entries] == ["failed"] * 3
    assert (folder / FEW).read_bytes() == original


async def test_unknown_batch_id_is_a_provider_error(corpus_dir: Path, tmp_path: Path, connect: Connect) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    with FakeProvider() as fake, Journal(tmp_path / "j.sqlite3") as journal:
        journal.set_batch(work_identity(jobs_of(folder)), "batch_gone", "in_progress")
        with pytest.raises(ProviderError) as stopped:
            await batch(folder, connect(fake), journal)
        assert fake.batches == 0
    assert stopped.value.status == 404 and "batch_gone" in str(stopped.value)


def test_custom_ids_stay_short_and_unique(corpus_dir: Path, tmp_path: Path) -> None:
    job = jobs_of(copy(corpus_dir, tmp_path / "a", [FEW]))[0]
    long = job.entry.model_copy(update={"id": "x" * 100})
    first = custom_id(3, job, set())
    assert first == f"3:{job.index}:{job.entry.id}"
    job.entry, job.index = long, None
    taken = {custom_id(12, job, set())}
    second = custom_id(12, job, taken)
    assert all(len(name) == CUSTOM_ID_LIMIT for name in [*taken, second])
    assert second not in taken and second.endswith("#1") and second.startswith("12:new:xxx")


def batch_cost_note(report: RepairReport, model: str) -> str:
    return estimate_cost(model, report.estimated_requests, report.estimated_prompt_tokens).describe()


def test_cost_note_compares_live_and_batch() -> None:
    report = RepairReport(totals=ReportTotals(needs_repair=20), cached=10, estimated_requests=10,
                          estimated_prompt_tokens=100_000)
    # 10 questions to ask: 100,000 prompt tokens ($0.25 on gpt-4o) + 10 x 300 completion tokens ($0.03).
    assert batch_cost_note(report, "gpt-4o") == (
        "~100,000 prompt + ~3,000 completion tokens: about $0.28 live, $0.14 with the Batch API "
        f"(gpt-4o at list prices of {PRICES_AS_OF})"
    )
    unknown = batch_cost_note(report, "local-llama")
    assert unknown.endswith("unknown price for local-llama (set one with --price IN,OUT)")
    priced = estimate_cost("local-llama", 10, 100_000, {"local-llama": (1.0, 2.0)})  # --price 1,2
    assert (priced.live_usd, priced.batch_usd) == (pytest.approx(0.106), pytest.approx(0.053))
    assert price("gpt-4o-mini-2024-07-18") == (0.15, 0.60) and price("openai/gpt-4o") == (2.50, 10.00)
    assert price("gpt-4o-audio") == (2.50, 10.00) and price("o3") is None


def test_the_cli_stops_with_one_line_and_finishes_live_when_told(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = copy(corpus_dir, tmp_path / "a", [FEW])
    with FakeProvider(batch_outcome="failed") as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        argv = ["repair", str(folder), "--batch", "--wait", "--poll-interval", "0.05", "--cache", str(tmp_path / "j")]
        assert main(argv) == 1 and fake.count(CHAT) == 0
        stopped = capsys.readouterr().err.splitlines()
        assert main([*argv, "--finish-live"]) == 0 and fake.count(CHAT) == 3
    errors = [line for line in stopped if line.startswith("resummarize: error:")]
    assert len(errors) == 1 and "ended failed (token_limit_exceeded" in errors[0] and "--finish-live" in errors[0]
    assert not any("Traceback" in line for line in stopped)
