"""Forks' files: fields of the wrong type, Traditional Chinese, a language name we do not know."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from resummarize.cli import main
from resummarize.config import Settings
from resummarize.detect import Placeholders, check_entry
from resummarize.digest import load
from resummarize.language import matches, resolve
from resummarize.plan import scan_file

SIMPLIFIED = {
    "tldr": "提出一种基于对比学习的检索方法，在三个基准上提升了召回率。",
    "motivation": "现有的稠密检索器在跨领域时表现不佳，需要更强的泛化能力。",
    "method": "作者在困难负样本上加入对比损失，并用第二个编码器挖掘负样本。",
    "result": "在多个数据集上召回率提高了四个百分点，训练开销几乎不变。",
    "conclusion": "简单的负样本挖掘就能让检索模型在不同领域之间更加稳健。",
}
TRADITIONAL = {
    "tldr": "提出一種基於對比學習的檢索方法，在三個基準上提升了召回率。",
    "motivation": "現有的稠密檢索器在跨領域時表現不佳，需要更強的泛化能力。",
    "method": "作者在困難負樣本上加入對比損失，並用第二個編碼器挖掘負樣本。",
    "result": "在多個數據集上召回率提高了四個百分點，訓練開銷幾乎不變。",
    "conclusion": "簡單的負樣本挖掘就能讓檢索模型在不同領域之間更加穩健。",
}


def _paper(n: int, ai: dict[str, object]) -> dict[str, object]:
    return {"id": f"2601.0000{n}", "title": "Contrastive retrieval", "summary": "We propose a method.",
            "authors": ["A. Author"], "categories": ["cs.IR"], "AI": ai}


def _write(path: Path, papers: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in papers), encoding="utf-8")
    return path


@pytest.mark.parametrize("value", [["x"], {"text": "a summary"}, 12345, 1.5, True])
def test_a_field_of_the_wrong_type_is_flagged(tmp_path: Path, value: object) -> None:
    path = _write(tmp_path / "2026-01-01_AI_enhanced_Chinese.jsonl",
                  [_paper(1, {**SIMPLIFIED, "result": value}), _paper(2, SIMPLIFIED)])
    _, scan = scan_file(path, Settings())
    assert [(n.id, n.fields) for n in scan.needs_repair] == [("2601.00001", {"result": "wrong_type"})]
    assert load(path).to_bytes() == path.read_bytes()


def test_null_fields_stay_empty_not_wrong_type(tmp_path: Path) -> None:
    path = _write(tmp_path / "2026-01-01_AI_enhanced_Chinese.jsonl", [_paper(1, {**SIMPLIFIED, "result": None})])
    _, scan = scan_file(path, Settings())
    assert [n.fields for n in scan.needs_repair] == [{"result": "empty"}]


@pytest.mark.parametrize("name", ["Traditional_Chinese", "Traditional Chinese", "traditional chinese", "zh-TW",
                                  "zh-Hant", "zh_Hant", "zh-Hant-TW", "繁體中文", "zh-HK"])
def test_traditional_chinese_is_understood_by_every_name(name: str) -> None:
    assert resolve(name).name == "Traditional Chinese"


@pytest.mark.parametrize("name", ["Chinese", "zh", "zh-CN", "zh-Hans", "Simplified Chinese", "简体中文"])
def test_simplified_chinese_keeps_its_names(name: str) -> None:
    assert resolve(name).name == "Chinese"


def test_the_two_scripts_are_told_apart() -> None:
    zh, hant = resolve("Chinese"), resolve("zh-Hant")
    for text in TRADITIONAL.values():
        assert matches(text, hant) and not matches(text, zh)
    for text in SIMPLIFIED.values():
        assert matches(text, zh) and not matches(text, hant)
    assert matches("模型", hant) and matches("模型", zh)  # shared characters say nothing


@pytest.mark.parametrize("declared, written, broken", [
    ("Traditional Chinese", SIMPLIFIED, True), ("Traditional_Chinese", TRADITIONAL, False),
    ("Chinese", TRADITIONAL, True), ("Chinese", SIMPLIFIED, False),
])
def test_a_digest_declared_in_one_script_with_summaries_in_the_other_needs_repair(
        tmp_path: Path, declared: str, written: dict[str, str], broken: bool) -> None:
    papers = [_paper(1, written), _paper(2, SIMPLIFIED if declared == "Chinese" else TRADITIONAL)]
    path = _write(tmp_path / f"2026-01-01_AI_enhanced_{declared}.jsonl", papers)
    _, scan = scan_file(path, Settings())
    assert scan.language == ("Chinese" if declared == "Chinese" else "Traditional Chinese")
    flagged = {n.id: set(n.fields.values()) for n in scan.needs_repair}
    assert flagged == ({"2601.00001": {"wrong_language"}} if broken else {})
    verdict = check_entry(load(path).entries[0], resolve(declared), Placeholders())
    assert verdict.needs_repair is broken


def test_an_unknown_declared_language_costs_one_line_and_the_folder_is_scanned(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], corpus_dir: Path) -> None:
    _write(tmp_path / "2026-01-01_AI_enhanced_Klingon.jsonl", [_paper(1, SIMPLIFIED), _paper(2, TRADITIONAL)])
    shutil.copyfile(corpus_dir / "2026-05-02_AI_enhanced_Chinese.jsonl",
                    tmp_path / "2026-05-02_AI_enhanced_Chinese.jsonl")
    code = main(["scan", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert [Path(f["path"]).name for f in report["files"]] == [
        "2026-01-01_AI_enhanced_Klingon.jsonl", "2026-05-02_AI_enhanced_Chinese.jsonl"]
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Klingon" in lines[0] and "2026-01-01_AI_enhanced_Klingon.jsonl" in lines[0]
    assert report["files"][0]["language_source"] == "content"
    assert code != 2
