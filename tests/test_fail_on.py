"""`scan --fail-on`: a fork decides which reasons fail its check (dropped papers are upstream's daily lot)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from resummarize.cli import main
from resummarize.detect import FAIL_REASONS, REASONS, REFUSAL

CLEAN_DAY = "2026-05-02_AI_enhanced_Chinese.jsonl"
BURST_DAY = "2026-05-21_AI_enhanced_Chinese.jsonl"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LANGUAGE", raising=False)


@pytest.fixture
def burst(corpus_dir: Path, tmp_path: Path) -> Path:
    """The burst day with its raw crawl: 48 placeholder entries and 60 dropped papers."""
    shutil.copyfile(corpus_dir / BURST_DAY, tmp_path / BURST_DAY)
    shutil.copyfile(corpus_dir / "2026-05-21.jsonl", tmp_path / "2026-05-21.jsonl")
    return tmp_path / BURST_DAY


@pytest.fixture
def only_missing(corpus_dir: Path, tmp_path: Path) -> Path:
    """A clean day whose raw crawl holds one paper more: nothing to repair but a dropped paper."""
    path = tmp_path / CLEAN_DAY
    shutil.copyfile(corpus_dir / CLEAN_DAY, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    raw = [json.loads(line) for line in lines]
    for obj in raw:
        del obj["AI"]
    raw.append(dict(raw[0], id="2605.99999"))
    (tmp_path / "2026-05-02.jsonl").write_text("\n".join(json.dumps(o) for o in raw) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def refused(corpus_dir: Path, tmp_path: Path) -> Path:
    path = tmp_path / CLEAN_DAY
    lines = (corpus_dir / CLEAN_DAY).read_text(encoding="utf-8").splitlines()
    obj = json.loads(lines[0])
    obj["AI"] = dict.fromkeys(obj["AI"], REFUSAL)
    lines[0] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_missing_papers_alone_do_not_fail_by_default(only_missing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A dropped paper is usually the pipeline's decision (its content check, a fork's filter)."""
    assert main(["scan", str(only_missing)]) == 0
    out = capsys.readouterr().out
    assert "1 missing" in out
    assert "content check" in out and "--fail-on missing" in out and "bypasses" in out


def test_a_corpus_day_whose_only_finding_is_dropped_papers_exits_0(burst: Path, tmp_path: Path) -> None:
    """The burst day without its 48 failed entries: 108 papers of the raw crawl missing, nothing else."""
    lines = burst.read_text(encoding="utf-8").splitlines(keepends=True)
    burst.write_text("".join(line for line in lines if "Summary generation failed" not in line), encoding="utf-8")
    assert main(["scan", str(burst)]) == 0
    assert main(["scan", str(burst), "--fail-on", "missing"]) == 1


def test_missing_papers_can_be_left_out_of_the_exit_code(only_missing: Path) -> None:
    assert main(["scan", str(only_missing), "--fail-on", "placeholder,empty,wrong_language,corrupted"]) == 0
    assert main(["scan", str(only_missing), "--fail-on", "missing"]) == 1


def test_only_the_listed_reasons_fail(burst: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(burst), "--fail-on", "placeholder"]) == 1
    assert main(["scan", str(burst), "--fail-on", "corrupted,wrong_language"]) == 0
    capsys.readouterr()
    assert main(["scan", str(burst), "--fail-on", "missing", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["needs_repair"] == 48  # the report itself is unchanged


def test_refusals_fail_only_when_asked(refused: Path) -> None:
    assert main(["scan", str(refused)]) == 0
    assert main(["scan", str(refused), "--fail-on", "refused"]) == 1
    assert main(["scan", str(refused), "--include", "refused"]) == 1


def test_every_detection_reason_is_accepted(only_missing: Path) -> None:
    assert main(["scan", str(only_missing), "--fail-on", ",".join((*REASONS, "refused"))]) == 0


def test_an_unknown_reason_is_a_usage_error(only_missing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(only_missing), "--fail-on", "placeholder,typo"]) == 2
    err = capsys.readouterr().err
    assert "typo" in err and "placeholder" in err and err.count("\n") == 1


def test_the_readme_lists_every_reason() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `--fail-on REASONS`"))
    assert all(f"`{reason}`" in row for reason in FAIL_REASONS)
