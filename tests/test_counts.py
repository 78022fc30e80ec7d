"""Counts that do not mislead: totals count papers, and a day's markdown digest follows its JSONL file
(re-rendered after restored papers; reported by `scan` when it falls behind)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from resummarize.cli import main
from resummarize.config import Settings
from resummarize.digest import load
from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.render import render_markdown
from resummarize.plan import scan
from resummarize.testing.server import FakeProvider

DAY = "2026-05-21"
ENHANCED = f"{DAY}_AI_enhanced_Chinese.jsonl"


def _day(corpus_dir: Path, folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(corpus_dir / name, folder / name)
    return folder


def test_a_paper_broken_in_the_jsonl_and_its_markdown_counts_once(corpus_dir: Path, tmp_path: Path) -> None:
    folder = _day(corpus_dir, tmp_path / "data", ENHANCED, f"{DAY}.md")
    report = scan([folder], Settings())
    assert [len(f.needs_repair) for f in report.files] == [48, 48]  # per-file lists unchanged
    assert report.totals.needs_repair == 48  # 48 papers, not 96


def test_scan_reports_a_markdown_digest_behind_its_jsonl(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _day(corpus_dir, tmp_path / "data", ENHANCED)
    lines = (folder / ENHANCED).read_bytes().splitlines(keepends=True)
    older = tmp_path / "older" / ENHANCED  # the day as it was when its markdown was rendered
    older.parent.mkdir()
    older.write_bytes(b"".join(lines[:200]))
    digest = load(older)
    assert isinstance(digest, JsonlDigest)
    (folder / f"{DAY}.md").write_text(render_markdown(digest), encoding="utf-8")
    later = [json.loads(line)["id"] for line in lines[200:]]

    assert main(["scan", str(folder), "--json"]) == 1
    files = {Path(f["path"]).name: f for f in json.loads(capsys.readouterr().out)["files"]}
    assert files[f"{DAY}.md"]["unrendered"] == later and files[ENHANCED]["unrendered"] == []
    main(["scan", str(folder)])
    out = capsys.readouterr().out
    assert f"unrendered {len(later)}" in out and "1 markdown digest(s) lack papers their JSONL file holds" in out


def test_restored_papers_reach_the_markdown_digest(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _day(corpus_dir, tmp_path / "data", ENHANCED, f"{DAY}.jsonl", f"{DAY}.md")
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code = main(["repair", str(folder), "--restore-missing", "--base-url", fake.base_url,
                     "--cache", str(tmp_path / "j.db")])
    assert code == 0, capsys.readouterr().err
    enhanced, markdown = load(folder / ENHANCED), load(folder / f"{DAY}.md")
    assert len(enhanced.entries) == 231 + 60
    assert sorted(e.id for e in markdown.entries) == sorted(e.id for e in enhanced.entries)
    report = scan([folder], Settings())
    assert report.totals.needs_repair == 0 and all(f.unrendered == [] for f in report.files)
