"""Repair end to end against the fake provider: what gets rewritten, and what must not change."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from engine import run

from resummarize import load
from resummarize.config import Settings
from resummarize.digest.model import FIELDS
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider

GOOD = ("2601.18800", "2601.19085", "2601.19179")


@pytest.fixture
def seed_copy(tmp_path: Path, seed_path: Path) -> Path:
    target = tmp_path / "seed.md"
    shutil.copyfile(seed_path, target)
    return target


def needs(path: Path, language: str) -> int:
    _, scan = scan_file(path, Settings(language=language))
    return len(scan.needs_repair) + len(scan.missing)


async def test_seed_repaired_and_nothing_else_changed(seed_copy: Path, seed_path: Path, tmp_path: Path) -> None:
    with FakeProvider() as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English")
        sent = fake.requests
    assert (report.totals.needs_repair, report.totals.repaired, report.totals.failed) == (96, 96, 0)
    assert report.merged == []  # nobody else wrote the file: nothing to say about it
    assert report.totals.requests == 96 and len(sent) == 96
    assert needs(seed_copy, "English") == 0

    before, after = load(seed_path), load(seed_copy)
    for old, new in zip(before.entries, after.entries, strict=True):
        assert (old.id, old.title, old.abstract) == (new.id, new.title, new.abstract)
        if old.id in GOOD:
            assert old.fields == new.fields
    # Writing the old field values back must give the original bytes: nothing outside the fields moved.
    for index, entry in enumerate(before.entries):
        after.set_fields(index, entry.fields)
    assert after.to_bytes() == seed_path.read_bytes()

    # What was sent: one request per broken paper, the paper's own abstract, the digest's language.
    ids = {r.paper_id for r in sent}
    assert len(ids) == 96 and not ids & set(GOOD)
    body = sent[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["response_format"]["type"] == "json_schema"
    user = body["messages"][-1]["content"]
    assert "Target language: English" in user and f"arXiv ID: {sent[0].paper_id}" in user
    entry = next(e for e in before.entries if e.id == sent[0].paper_id)
    assert entry.abstract.split()[0] in user
    assert all(r.headers.get("authorization") == "Bearer ***" for r in sent)


async def test_second_run_is_served_from_the_journal(seed_path: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    shutil.copyfile(seed_path, first)
    shutil.copyfile(seed_path, second)
    with FakeProvider() as fake:
        await run([first], fake, tmp_path / "j.db", language="English")
        fake.reset_log()
        report = await run([second], fake, tmp_path / "j.db", language="English")
        assert fake.count() == 0
    assert report.totals.repaired == 96 and report.cached == 96 and report.totals.requests == 0
    assert first.read_bytes() == second.read_bytes()


async def test_a_journaled_answer_that_todays_rules_reject_is_asked_again(seed_path: Path, tmp_path: Path) -> None:
    """An answer stored by an older release (weaker validation) is checked again before it is reused."""
    first, second = tmp_path / "a.md", tmp_path / "b.md"
    shutil.copyfile(seed_path, first)
    shutil.copyfile(seed_path, second)
    journal = tmp_path / "j.db"
    with FakeProvider() as fake:
        await run([first], fake, journal, language="English")
        with sqlite3.connect(journal) as db:  # plant what an older release could have stored
            key, paper, stored = db.execute("SELECT key, paper_id, fields FROM answers LIMIT 1").fetchone()
            fields = json.loads(stored)
            fields["tldr"] = "Fast. <img src=x onerror=alert(1)//"
            db.execute("UPDATE answers SET fields = ? WHERE key = ?", (json.dumps(fields), key))
        fake.reset_log()
        report = await run([second], fake, journal, language="English")
        asked = [r.paper_id for r in fake.requests]
    assert asked == [paper]  # only the planted answer is asked again
    assert report.totals.repaired == 96 and report.cached == 95
    assert "onerror" not in second.read_text(encoding="utf-8")


async def test_jsonl_repair_keeps_style_key_order_and_other_lines(corpus_dir: Path, tmp_path: Path) -> None:
    name = "2026-05-21_AI_enhanced_Chinese.jsonl"
    path = tmp_path / name
    shutil.copyfile(corpus_dir / name, path)
    original = path.read_bytes().split(b"\n")
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db")  # language from the file name: Chinese
        asked = {r.body["messages"][-1]["content"].split("Target language: ")[1].split("\n")[0] for r in fake.requests}
    assert report.totals.repaired == 48 and asked == {"Chinese"}
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == len(original)
    changed = [i for i, (a, b) in enumerate(zip(original, lines, strict=True)) if a != b]
    assert len(changed) == 48
    for i in changed:
        old, new = json.loads(original[i]), json.loads(lines[i])
        assert list(old) == list(new) and list(old["AI"]) == list(new["AI"])
        assert {k: v for k, v in old.items() if k != "AI"} == {k: v for k, v in new.items() if k != "AI"}
        assert lines[i].isascii() and b"\\u" in lines[i]  # upstream's ensure_ascii style kept
        assert lines[i] == json.dumps(new).encode()
    assert needs(path, "Chinese") == 0


async def test_restore_missing_inserts_in_raw_order(corpus_dir: Path, tmp_path: Path) -> None:
    for name in ("2026-05-21_AI_enhanced_Chinese.jsonl", "2026-05-21.jsonl"):
        shutil.copyfile(corpus_dir / name, tmp_path / name)
    path = tmp_path / "2026-05-21_AI_enhanced_Chinese.jsonl"
    before = load(path)
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db", restore_missing=True)
    assert report.totals.needs_repair == 108 and report.totals.repaired == 108
    after = load(path)
    assert len(after.entries) == 231 + 60 and needs(path, "Chinese") == 0
    raw_order = [json.loads(line)["id"] for line in (tmp_path / "2026-05-21.jsonl").read_text().splitlines()]
    position = {pid: raw_order.index(pid) for pid in raw_order}
    inserted = [e for e in after.entries if e.id not in {b.id for b in before.entries}]
    assert [position[e.id] for e in inserted] == sorted(position[e.id] for e in inserted)
    assert all(tuple(e.fields) == FIELDS and all(e.fields.values()) for e in inserted)
    # The papers that were there keep their relative order.
    kept = [e.id for e in after.entries if e.id in {b.id for b in before.entries}]
    assert kept == [b.id for b in before.entries]


async def test_translate_sends_the_existing_fields(seed_copy: Path, tmp_path: Path) -> None:
    chinese = next(e for e in load(seed_copy).entries if "方法" in e.fields["method"] or "提出" in e.fields["tldr"])
    with FakeProvider() as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English", strategy="translate")
        bodies = {r.paper_id: r.body["messages"][-1]["content"] for r in fake.requests}
    assert report.totals.failed == 0
    assert chinese.fields["tldr"] in bodies[chinese.id]  # translated from what was there
    # Placeholders hold nothing to translate: those papers are regenerated from the abstract.
    assert not any("Summary generation failed" in text for text in bodies.values())
    assert sum("<<<ANALYSIS" in text for text in bodies.values()) == 24


async def test_refusals_are_kept_unless_asked(tmp_path: Path, corpus_dir: Path) -> None:
    source = (corpus_dir / "2026-05-02_AI_enhanced_Chinese.jsonl").read_text().splitlines()
    refused = json.loads(source[0])
    refused["AI"] = dict.fromkeys(refused["AI"], "This content has not passed the compliance test and has been hidden.")
    path = tmp_path / "2026-05-02_AI_enhanced_Chinese.jsonl"
    path.write_text("\n".join([json.dumps(refused), *source[1:]]) + "\n")
    with FakeProvider() as fake:
        kept = await run([path], fake, tmp_path / "j.db")
        assert fake.count() == 0 and kept.totals.needs_repair == 0
        fixed = await run([path], fake, tmp_path / "j.db", include_refused=True)
        assert fake.count() == 1
    assert fixed.totals.repaired == 1
    assert "compliance" not in path.read_text().splitlines()[0]


async def test_dry_run_sends_nothing_and_writes_nothing(seed_copy: Path, tmp_path: Path) -> None:
    before = seed_copy.read_bytes()
    with FakeProvider() as fake:
        report = await run([seed_copy], fake, tmp_path / "j.db", language="English", dry_run=True)
        assert fake.count() == 0
    assert report.totals.needs_repair == 96 and report.estimated_requests == 96
    assert report.estimated_prompt_tokens > 96 * 200
    assert seed_copy.read_bytes() == before


async def test_out_and_backup(seed_copy: Path, tmp_path: Path) -> None:
    before = seed_copy.read_bytes()
    out = tmp_path / "new" / "digest.md"
    with FakeProvider() as fake:
        await run([seed_copy], fake, tmp_path / "j.db", language="English", out=out)
        assert seed_copy.read_bytes() == before and needs(out, "English") == 0
        await run([seed_copy], fake, tmp_path / "j.db", language="English", backup=True)
    assert (tmp_path / "seed.md.bak").read_bytes() == before
    assert seed_copy.read_bytes() == out.read_bytes()


async def test_a_paper_listed_twice_is_asked_once(corpus_dir: Path, tmp_path: Path) -> None:
    name = "2025-03-20_AI_enhanced_Chinese.jsonl"  # old schema (`task`), papers repeated on several lines
    path = tmp_path / name
    shutil.copyfile(corpus_dir / name, path)
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db")
        asked = [r.paper_id for r in fake.requests]
        schema = fake.requests[0].body["response_format"]["json_schema"]["schema"]
    assert report.totals.needs_repair == 8 and report.totals.repaired == 8
    assert len(asked) == len(set(asked)) == 4
    assert list(schema["properties"]) == ["task", "motivation", "method", "result", "conclusion", "evidence"]
    assert needs(path, "Chinese") == 0


async def test_an_entry_without_abstract_is_reported_not_invented(corpus_dir: Path, tmp_path: Path) -> None:
    lines = (corpus_dir / "2025-10-23_AI_enhanced_Chinese.jsonl").read_text().splitlines()
    broken = [i for i, line in enumerate(lines) if "Summary generation failed" in line]
    obj = json.loads(lines[broken[0]])
    del obj["summary"]
    lines[broken[0]] = json.dumps(obj)
    path = tmp_path / "2025-10-23_AI_enhanced_Chinese.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db")
        asked = {r.paper_id for r in fake.requests}
    assert obj["id"] not in asked and report.totals.needs_repair == len(broken)
    failed = [e for e in report.entries if e.status == "failed"]
    assert [(e.id, e.error) for e in failed] == [(obj["id"], "no abstract to summarise from")]
    assert report.totals.repaired == len(broken) - 1
