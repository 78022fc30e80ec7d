"""The digest's language comes from the digest before it comes from a default, and `scan` says where from.

A markdown digest with no JSONL sibling used to fall back to English: repairing upstream's Chinese
`2026-05-21.md` alone rewrote every good Chinese entry in English.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from engine import run

from resummarize import load
from resummarize.cli import main
from resummarize.config import Settings
from resummarize.detect import Placeholders, written_in
from resummarize.digest.render import render_markdown
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider

BURST_DAY = "2026-05-21_AI_enhanced_Chinese.jsonl"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGUAGE", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def lone_markdown(corpus_dir: Path, tmp_path: Path) -> Path:
    """Upstream's markdown of the burst day, alone in its folder (no JSONL sibling to name its language)."""
    target = tmp_path / "lone" / "2026-05-21.md"
    target.parent.mkdir()
    target.write_text(render_markdown(load(corpus_dir / BURST_DAY)), encoding="utf-8")  # type: ignore[arg-type]
    return target


def test_the_language_most_good_entries_are_written_in(corpus_dir: Path, seed_path: Path) -> None:
    assert written_in(load(corpus_dir / BURST_DAY).entries, Placeholders()).name == "Chinese"  # type: ignore[union-attr]
    english = load(seed_path).entries
    good_english = [e for e in english if e.id in {"2601.18800", "2601.19085", "2601.19179"}]
    assert written_in(good_english, Placeholders()).name == "English"  # type: ignore[union-attr]
    placeholders_only = [e for e in english if set(e.fields.values()) <= {"Summary generation failed"}]
    assert written_in(placeholders_only[:5], Placeholders()) is None


@pytest.mark.parametrize(
    ("argv", "env", "language", "source"),
    [
        (["--language", "English"], None, "English", "flag"),
        ([], None, "Chinese", "content"),
        ([], "en_US:en", "English", "environment"),
    ],
)
def test_scan_says_which_language_and_why(
    lone_markdown: Path, argv: list[str], env: str | None, language: str, source: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    if env:
        monkeypatch.setenv("LANGUAGE", env)
    main(["scan", str(lone_markdown), "--json", *argv])
    scan = json.loads(capsys.readouterr().out)["files"][0]
    assert (scan["language"], scan["language_source"]) == (language, source)
    main(["scan", str(lone_markdown), *argv])
    table = capsys.readouterr().out
    assert f"{language} ({source})" in table


def test_name_and_sibling_sources(corpus_dir: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / BURST_DAY
    shutil.copyfile(corpus_dir / BURST_DAY, jsonl)
    markdown = tmp_path / "2026-05-21.md"
    markdown.write_text(render_markdown(load(jsonl)), encoding="utf-8")  # type: ignore[arg-type]
    for path, source in ((jsonl, "name"), (markdown, "sibling")):
        _, scan = scan_file(path, Settings())
        assert (scan.language, scan.language_source) == ("Chinese", source)


def test_a_lone_chinese_digest_scans_as_chinese(lone_markdown: Path) -> None:
    _, scan = scan_file(lone_markdown, Settings())
    assert len(scan.needs_repair) == 48
    assert {reason for item in scan.needs_repair for reason in item.fields.values()} == {"placeholder"}


async def test_a_lone_chinese_digest_is_repaired_in_chinese(lone_markdown: Path, tmp_path: Path) -> None:
    before = load(lone_markdown)
    with FakeProvider() as fake:
        report = await run([lone_markdown], fake, tmp_path / "j.db")
        sent = fake.requests
    assert (report.totals.needs_repair, report.totals.repaired) == (48, 48)
    assert all("Target language: Chinese" in json.dumps(r.body["messages"], ensure_ascii=False) for r in sent)
    after = load(lone_markdown)
    asked = {r.paper_id for r in sent}
    changed = [old.id for old, new in zip(before.entries, after.entries, strict=True) if old.fields != new.fields]
    assert set(changed) == asked and len(changed) == 48  # no good entry changed
    _, scan = scan_file(lone_markdown, Settings(language="Chinese"))
    assert scan.needs_repair == []


def test_repair_refuses_a_digest_the_environment_language_would_rewrite(
    lone_markdown: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LANGUAGE", "English")
    original = lone_markdown.read_bytes()
    code = main(["repair", str(lone_markdown), "--dry-run"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lone_markdown.read_bytes() == original
    line = next(line for line in err if "error" in line)
    assert str(lone_markdown) in line and "English" in line and "Chinese" in line


async def test_an_explicit_language_is_obeyed_even_when_it_rewrites_everything(
    lone_markdown: Path, tmp_path: Path
) -> None:
    with FakeProvider() as fake:
        report = await run([lone_markdown], fake, tmp_path / "j.db", language="English")
        sent = fake.requests
    # Every entry is rewritten in English (one fails on the fake's own template, which names a number).
    assert report.totals.needs_repair == 231 and report.totals.repaired + report.totals.failed == 231
    assert report.totals.failed <= 1
    assert all("Target language: English" in json.dumps(r.body["messages"]) for r in sent)
    _, scan = scan_file(lone_markdown, Settings(language="English"))
    assert len(scan.needs_repair) == report.totals.failed
