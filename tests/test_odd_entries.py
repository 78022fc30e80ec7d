"""Odd entries never stop or silently skip a run: each is repaired or fails alone, naming file and line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from engine import run

from resummarize import load
from resummarize.cli import main
from resummarize.config import Settings
from resummarize.digest.model import FIELDS
from resummarize.digest.render import render_markdown
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider

DAY = "2026-05-02_AI_enhanced_Chinese.jsonl"  # a clean day
FAILED = "Summary generation failed"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LANGUAGE", "OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)


def corpus(corpus_dir: Path, count: int = 10) -> list[dict[str, Any]]:
    lines = (corpus_dir / DAY).read_text(encoding="utf-8").splitlines()[:count]
    return [json.loads(line) for line in lines]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def test_a_repaired_line_keeps_its_own_escaping_style(corpus_dir: Path, tmp_path: Path) -> None:
    objs = corpus(corpus_dir, 6)
    for obj in objs[2:4]:
        obj["AI"]["tldr"] = FAILED
    lines = [json.dumps(o, ensure_ascii=i % 2 == 0) for i, o in enumerate(objs)]  # escaped, raw, escaped, ...
    path = write(tmp_path / DAY, lines)
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db")
    assert report.totals.repaired == 2
    after = path.read_text(encoding="utf-8").splitlines()
    assert after[2].isascii() and "\\u" in after[2]  # was escaped: stays escaped
    assert not after[3].isascii()  # was raw UTF-8: stays raw
    assert [a for i, a in enumerate(after) if i not in (2, 3)] == [b for i, b in enumerate(lines) if i not in (2, 3)]
    assert json.loads(after[2])["AI"]["tldr"] != FAILED and json.loads(after[3])["AI"]["tldr"] != FAILED


async def test_an_odd_ai_object_is_repaired_with_the_files_field_set(corpus_dir: Path, tmp_path: Path) -> None:
    objs = corpus(corpus_dir, 6)
    del objs[0]["AI"]
    objs[1]["AI"] = {}
    objs[2]["AI"] = "oops"
    kept = dict(objs[3]["AI"])
    del objs[3]["AI"]["method"]
    path = write(tmp_path / DAY, [json.dumps(o) for o in objs])
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db")
        sent = fake.requests
    assert (report.totals.needs_repair, report.totals.repaired, report.totals.failed) == (4, 4, 0)
    assert len(sent) == 4  # one request each, not five failing ones
    for request in sent:  # every one asks for the five fields (and the evidence phrase, never written)
        assert set(request.body["response_format"]["json_schema"]["schema"]["required"]) == {*FIELDS, "evidence"}
    after = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for obj in after[:4]:
        assert list(obj["AI"]) == list(FIELDS)  # the file's key order
    del kept["method"]
    assert {k: v for k, v in after[3]["AI"].items() if k != "method"} == kept  # only the missing one is new


async def test_an_extra_key_does_not_stop_the_run(corpus_dir: Path, tmp_path: Path) -> None:
    objs = corpus(corpus_dir, 4)
    objs[0]["AI"]["tldr"] = FAILED
    objs[0]["AI"]["note"] = "kept as it is"
    objs[1]["AI"] = dict.fromkeys(objs[1]["AI"], FAILED) | {"extra": "x"}  # whole entry
    objs[2]["AI"]["tldr"] = FAILED
    path = write(tmp_path / DAY, [json.dumps(o) for o in objs])
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db")
    assert (report.totals.repaired, report.totals.failed) == (3, 0)
    after = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert list(after[0]["AI"]) == [*FIELDS, "note"] and after[0]["AI"]["note"] == "kept as it is"
    assert after[1]["AI"]["extra"] == "x"


@pytest.fixture
def markdown(corpus_dir: Path, tmp_path: Path) -> list[str]:
    """Upstream's markdown of the clean day, cut at its entry headers."""
    return render_markdown(load(corpus_dir / DAY)).split("\n### [")  # type: ignore[arg-type]


async def test_a_markdown_entry_missing_a_label_is_repaired_alone(markdown: list[str], tmp_path: Path) -> None:
    markdown[1] = markdown[1].replace("\nMethod: ", "\n", 1)
    markdown[2] = re.sub(r"\nTL;DR: [^\n]*", f"\nTL;DR: {FAILED}", markdown[2], count=1)
    path = tmp_path / "2026-05-02.md"
    path.write_text("\n### [".join(markdown), encoding="utf-8")
    with FakeProvider() as fake:
        report = await run([path], fake, tmp_path / "j.db", language="Chinese")
    assert (report.totals.needs_repair, report.totals.repaired, report.totals.failed) == (2, 2, 0)
    _, scan = scan_file(path, Settings(language="Chinese"))
    assert scan.needs_repair == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda part: "two" + part[part.index("]") :],  # `### [two] [title](url)`
        lambda part: re.sub(r"\]\(https://arxiv[^)]*\)", "]", part, count=1),  # no link
    ],
)
def test_an_unreadable_header_is_reported_with_its_line(
    markdown: list[str], tmp_path: Path, damage: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown[3] = re.sub(r"\nTL;DR: [^\n]*", f"\nTL;DR: {FAILED}", damage(markdown[3]), count=1)
    text = "\n### [".join(markdown)
    path = tmp_path / "2026-05-02.md"
    path.write_text(text, encoding="utf-8")
    line = text[: text.index("\n### [" + markdown[3])].count("\n") + 2
    main(["scan", str(path), "--language", "Chinese"])
    err = capsys.readouterr().err
    assert f"{path}:{line}: " in err and "header" in err


def test_a_lone_surrogate_fails_its_entry_alone(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    objs = corpus(corpus_dir, 4)
    lines = [json.dumps(o) for o in objs]
    objs[1]["AI"]["tldr"] = FAILED
    lines[1] = json.dumps(objs[1]).replace('"title": "', '"title": "\\ud800', 1)  # valid JSON, not Unicode
    objs[2]["AI"]["tldr"] = FAILED
    lines[2] = json.dumps(objs[2])
    path = write(tmp_path / DAY, lines)
    with FakeProvider() as fake:
        code = main(["repair", str(path), "--base-url", fake.base_url, "--cache", str(tmp_path / "j.db"),
                     "--report", str(tmp_path / "r.json")])
    report = json.loads((tmp_path / "r.json").read_text())
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    failed = [e for e in report["entries"] if e["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["id"] == objs[1]["id"]
    assert "surrogate" in failed[0]["error"] and f"{path}:2" in failed[0]["error"]
    assert report["totals"]["repaired"] == 1


@pytest.mark.parametrize("command", ["repair", "worker"])
def test_repair_and_worker_report_bad_lines_as_scan_does(
    corpus_dir: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(o) for o in corpus(corpus_dir, 3)]
    lines.insert(1, "{not json")
    path = write(tmp_path / DAY, lines)
    main(["scan", str(path)])
    scan_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"{path}:")]
    assert scan_lines == [f"{path}:2: " + scan_lines[0].split(": ", 1)[1]]
    argv = ["repair", str(path)] if command == "repair" else ["worker", str(tmp_path), "--once"]
    main([*argv, "--dry-run", "--cache", str(tmp_path / "j.db")])
    assert scan_lines[0] in capsys.readouterr().err.splitlines()


def test_scan_reports_a_lone_surrogate_in_an_id(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objs = corpus(corpus_dir, 3)
    objs[1]["AI"]["tldr"] = FAILED
    lines = [json.dumps(o) for o in objs]
    lines[1] = lines[1].replace('"id": "', '"id": "\\ud800', 1)
    path = write(tmp_path / DAY, lines)
    assert main(["scan", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["totals"]["needs_repair"] == 1
    assert f"{path}:2: " in captured.err and "surrogate" in captured.err
