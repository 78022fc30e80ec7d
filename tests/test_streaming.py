"""A repair works file by file: each file written as soon as its last answer is validated, only the
files with work in flight held, questions asked once across files, and a probe that lets the pool fan
out at its headers."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
from pathlib import Path

import pytest
from engine import client_for, run

from resummarize import outbox
from resummarize.cli import main
from resummarize.config import RepairOptions
from resummarize.digest import load
from resummarize.engine import repair
from resummarize.journal import Journal
from resummarize.provider.prompts import load_prompts
from resummarize.report import EntryResult
from resummarize.testing.server import FakeProvider

DAYS = ["2025-05-19_AI_enhanced_Chinese.jsonl", "2025-06-23_AI_enhanced_Chinese.jsonl",
        "2025-10-13_AI_enhanced_Chinese.jsonl", "2025-10-23_AI_enhanced_Chinese.jsonl"]


def folder_of(corpus_dir: Path, target: Path, names: list[str]) -> Path:
    target.mkdir()
    for name in names:
        shutil.copyfile(corpus_dir / name, target / name)
    return target


async def test_each_file_is_written_before_the_next_file_is_asked(corpus_dir: Path, tmp_path: Path) -> None:
    """One request at a time, files in order: when the first answer for a file arrives, every earlier
    file is already on disk, repaired."""
    folder = folder_of(corpus_dir, tmp_path / "data", DAYS)
    before = {name: (folder / name).read_bytes() for name in DAYS}
    seen_written: dict[str, set[str]] = {}

    def on_result(result: EntryResult) -> None:
        name = Path(result.path).name
        if name not in seen_written:
            seen_written[name] = {n for n in DAYS if (folder / n).read_bytes() != before[n]}

    with FakeProvider() as fake, Journal(tmp_path / "j.db") as db:
        client = client_for(fake)
        report = await repair([folder], RepairOptions(concurrency=1), client=client, journal=db,
                              prompts=load_prompts(), on_result=on_result)
        await client.close()
    assert report.totals.failed == 0 and report.totals.repaired == report.totals.needs_repair > 0
    order = [name for name in DAYS if name in seen_written]
    assert order == DAYS
    for position, name in enumerate(order):
        assert seen_written[name] == set(order[:position])  # the earlier ones, and only those


async def test_only_the_files_with_work_in_flight_are_held(
    corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = folder_of(corpus_dir, tmp_path / "data", DAYS)
    held: list[int] = []
    opened = outbox.Outbox.open

    def spy(self: outbox.Outbox, *args: object) -> None:
        opened(self, *args)  # type: ignore[arg-type]
        held.append(len(self))

    monkeypatch.setattr(outbox.Outbox, "open", spy)
    with FakeProvider() as fake:
        report = await run([folder], fake, tmp_path / "j.db", concurrency=2)
    assert report.totals.failed == 0 and len(held) == len(DAYS)
    assert max(held) <= 2 + 1  # two questions in flight touch at most two files, plus the one being read


async def test_a_paper_listed_on_two_days_is_asked_once_and_written_in_both(
    corpus_dir: Path, tmp_path: Path
) -> None:
    """The same failed paper in two files (far apart in the run) is one request, written in both."""
    folder = folder_of(corpus_dir, tmp_path / "data", DAYS)
    first, last = folder / DAYS[0], folder / DAYS[-1]
    lines = first.read_bytes().split(b"\n")
    obj = json.loads(lines[0])
    obj["AI"] = dict.fromkeys(obj["AI"], "Summary generation failed")
    broken = json.dumps(obj).encode()
    first.write_bytes(b"\n".join([broken, *lines[1:]]))
    last.write_bytes(last.read_bytes().rstrip(b"\n") + b"\n" + broken + b"\n")
    paper = obj["id"]
    with FakeProvider() as fake:
        report = await run([folder], fake, tmp_path / "j.db", concurrency=4)
        asked = [r.paper_id for r in fake.requests]
    assert asked.count(paper) == 1 and report.totals.failed == 0
    for path in (first, last):
        entry = next(e for e in load(path).entries if e.id == paper)
        assert "Summary generation failed" not in entry.fields.values() and "Error" not in entry.fields.values()


async def test_the_pool_fans_out_as_soon_as_the_probe_headers_arrive(tmp_path: Path, seed_subset: object) -> None:
    """The probe's answer is held at the gate, its headers are not: the other workers start meanwhile."""
    gate = threading.Event()
    digest = seed_subset(9)  # type: ignore[operator]
    with FakeProvider(gate=gate) as fake:
        work = asyncio.ensure_future(run([digest], fake, tmp_path / "j.db", language="English", concurrency=4))
        for _ in range(2000):  # the workers arrive while the probe's answer is held
            if fake.in_flight >= 3:
                break
            await asyncio.sleep(0.005)
        reached = fake.in_flight
        gate.set()
        report = await work
        bodies = [r.body for r in fake.requests]
    assert reached >= 3
    assert bodies[0]["stream"] is True and all("stream" not in body for body in bodies[1:])
    assert report.totals.repaired == report.totals.needs_repair == report.totals.requests  # the probe answers too
    assert report.totals.prompt_tokens > 0  # the streamed usage is counted too


def test_the_language_classifier_loads_after_the_first_request_is_sent(
    seed_subset: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its imports would compete with the run's own start: the classifier is warmed once the pool has
    fanned out, while the answers are awaited; a dry run never loads it in the background."""
    from resummarize import engine

    sent_before: list[int] = []
    digest = seed_subset(9)  # type: ignore[operator]
    with FakeProvider() as fake:
        monkeypatch.setattr(engine, "preload_classifier", lambda language: sent_before.append(fake.count()))
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        main(["repair", str(digest), "--language", "English", "--dry-run", "--cache", str(tmp_path / "j.db")])
        assert sent_before == []
        code = main(["repair", str(digest), "--language", "English", "--base-url", fake.base_url,
                     "--cache", str(tmp_path / "j.db")])
    assert code == 0
    assert len(sent_before) == 1 and sent_before[0] >= 1  # the probe went out first


def test_a_bad_key_costs_one_request(seed_subset: object, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    digest = seed_subset(9)  # type: ignore[operator]
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        code = main(["repair", str(digest), "--language", "English", "--base-url", fake.base_url,
                     "--cache", str(tmp_path / "j.db")])
        assert code == 3 and fake.count() == 1
    assert "sk-wrong" not in capsys.readouterr().err


def test_dry_run_prints_tokens_and_cost_live_and_batch(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = folder_of(corpus_dir, tmp_path / "data", DAYS)
    args = ["repair", str(folder), "--dry-run", "--cache", str(tmp_path / "none.db")]
    main([*args, "--json"])
    captured = capsys.readouterr()
    estimate = json.loads(captured.out)["estimate"]
    assert estimate["requests"] > 0 and estimate["prompt_tokens"] > 0
    assert estimate["completion_tokens"] == 300 * estimate["requests"]
    assert estimate["batch_usd"] == pytest.approx(estimate["live_usd"] / 2) and estimate["live_usd"] > 0
    assert "estimated cost, live" in captured.err and "estimated cost, --batch" in captured.err
    main([*args, "--model", "local-llama"])
    assert "unknown price for local-llama" in capsys.readouterr().err
    main([*args, "--model", "local-llama", "--price", "1,2", "--json"])
    priced = json.loads(capsys.readouterr().out)["estimate"]
    expected = (priced["prompt_tokens"] * 1 + priced["completion_tokens"] * 2) / 1e6
    assert priced["live_usd"] == pytest.approx(expected)
