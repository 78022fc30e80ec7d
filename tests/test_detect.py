"""Per-field verdicts: placeholders, empties, corruption, wrong language, refusals, dropped papers."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from detection import field_reason
from hypothesis import given
from hypothesis import strategies as st

from resummarize.detect import (
    DEFAULT_PLACEHOLDERS,
    REASONS,
    REFUSAL,
    EntryVerdict,
    Placeholders,
    _bare_id,
    _form_reason,
    check_entry,
    is_refusal,
    missing_ids,
)
from resummarize.digest.model import FIELDS, Entry, canonical
from resummarize.errors import UsageError
from resummarize.language import Language, matches, resolve

EN = resolve("English")
ZH = resolve("Chinese")
PH = Placeholders()

GOOD_EN = "The authors propose a contrastive objective that improves retrieval accuracy on three benchmarks."
GOOD_ZH = "提出 HaKAN：基于 Hahn-KAN 的时间序列预测网络，在 ETTh1 和 Weather 数据集上优于 PatchTST。"
GERMAN = "Die Autoren schlagen ein neues Verfahren zur Segmentierung medizinischer Bilder vor."


def entry(**fields: str) -> Entry:
    return Entry(id="2601.00001", fields=fields)


def five(text: str) -> dict[str, str]:
    return dict.fromkeys(FIELDS, text)


# Placeholders ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", [p.removesuffix("*") + "boom" if p.endswith("*") else p for p in DEFAULT_PLACEHOLDERS]
)
def test_every_default_family_is_a_placeholder(text: str) -> None:
    assert PH.matches(text)
    assert field_reason(text, EN, PH) == "placeholder"
    assert field_reason(text, ZH, PH) == "placeholder"


@pytest.mark.parametrize(
    "text",
    [
        "summary generation failed",
        "  Summary   generation failed.  ",
        "ERROR",
        "Error.",
        "Error: Connection timeout",
        "error: 429 Too Many Requests",
        "错误：AI分析失败。",
        "错误:AI分析失败",
        "No summary available",
        "深度总结生成失败",
    ],
)
def test_placeholder_spelling_variants(text: str) -> None:
    assert PH.matches(text)


@pytest.mark.parametrize(
    "text",
    [
        "Error analysis shows that most failures come from tokenisation.",
        "The error rate drops by half, while prior methods failed on long inputs.",
        "Errors: none of the baselines handle occlusion.",
        "Summary generation failed on 3% of the inputs, which the authors analyse in detail.",
        "Processing failed transactions is the motivation of this work.",
        "错误检测是本文的研究重点，提出的方法在分析失败案例时表现出色。",
    ],
)
def test_summaries_that_mention_errors_are_not_placeholders(text: str) -> None:
    assert not PH.matches(text)
    assert field_reason(text, EN if text.isascii() else ZH, PH) is None


def test_user_placeholders_extend_the_list() -> None:
    extra = Placeholders(["N/A", "Rate limited*"])
    assert extra.matches("n/a")
    assert extra.matches("Rate limited, come back tomorrow")
    assert extra.matches("Summary generation failed")
    assert not PH.matches("N/A")
    assert field_reason("N/A", EN, extra) == "placeholder"
    assert field_reason("Rate limited, come back tomorrow", EN, extra) == "placeholder"
    assert field_reason("Rate limited, come back tomorrow", EN, PH) is None


@pytest.mark.parametrize("pattern", ["", "  ", "*", "...", " * "])
def test_a_placeholder_that_matches_everything_is_refused(pattern: str) -> None:
    with pytest.raises(UsageError):
        Placeholders([pattern])


# Single fields --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\u3000"])
def test_blank_fields_are_empty(text: str) -> None:
    assert field_reason(text, EN, PH) == "empty"


@pytest.mark.parametrize(
    "text",
    [
        "We learn a policy whose temperature \tau is annealed over training.",  # \tau
        "The learning rate \beta controls the update size.",  # \beta
        "We bound the ratio \frac{a}{b} for every layer.",  # \frac
        "The gradient \nabla f vanishes at the optimum of the smoothed objective.",  # \nabla inside
        "\textit{Robust} inference under shift is achieved with a simple prior.",  # leading TAB
        "A delete \x7f or a lost byte \ufffd also marks damaged text here.",
    ],
)
def test_control_characters_are_corruption(text: str) -> None:
    assert field_reason(text, EN, PH) == "corrupted"


def test_surrounding_newlines_are_not_corruption() -> None:
    assert field_reason(GOOD_EN + "\n", EN, PH) is None
    assert field_reason("\r\n" + GOOD_EN + "\r\n", EN, PH) is None


def test_wrong_language_both_ways() -> None:
    assert field_reason(GOOD_ZH, EN, PH) == "wrong_language"
    assert field_reason(GOOD_EN, ZH, PH) == "wrong_language"
    assert field_reason(GOOD_ZH, ZH, PH) is None
    assert field_reason(GOOD_EN, EN, PH) is None


def test_same_script_language_needs_enough_letters() -> None:
    assert field_reason(GERMAN, EN, PH) == "wrong_language"
    assert field_reason("Das Modell", EN, PH) is None


def test_english_with_a_cjk_gloss_is_fine_in_an_english_digest() -> None:
    text = "We use the term 注意力 (attention) for the mechanism that weights tokens by relevance."
    assert field_reason(text, EN, PH) is None


def test_precedence_placeholder_beats_language_and_corruption() -> None:
    assert field_reason("Summary generation failed", ZH, PH) == "placeholder"
    assert field_reason("Error: socket\ttimeout", ZH, PH) == "placeholder"


def test_precedence_corruption_beats_language() -> None:
    assert field_reason(GOOD_EN.replace(" ", "\t", 1), ZH, PH) == "corrupted"


def test_reasons_are_the_documented_ones() -> None:
    assert set(REASONS) == {"placeholder", "empty", "wrong_language", "corrupted", "mismatched", "wrong_type"}


# Refusals -------------------------------------------------------------------------------------------


def test_refusal_is_reported_apart_not_as_broken() -> None:
    verdict = check_entry(entry(**five(REFUSAL)), ZH, PH)
    assert verdict.refused
    assert verdict.fields == {}
    assert not verdict.needs_repair
    assert field_reason(REFUSAL, ZH, PH) is None


def test_partial_refusal_still_reports_the_other_broken_fields() -> None:
    fields = five(GOOD_EN) | {"tldr": "  " + REFUSAL + " ", "result": "Result analysis unavailable"}
    verdict = check_entry(entry(**fields), EN, PH)
    assert verdict.refused
    assert verdict.fields == {"result": "placeholder"}


def test_a_summary_about_compliance_is_not_a_refusal() -> None:
    text = "The authors check whether the generated content has passed the compliance test of the regulator."
    assert not is_refusal(text)
    verdict = check_entry(entry(**five(text)), EN, PH)
    assert not verdict.refused
    assert not verdict.needs_repair


# Whole entries --------------------------------------------------------------------------------------


def test_field_order_legacy_keys_and_missing_fields() -> None:
    legacy = Entry(
        id="2503.00001",
        fields={"conclusion": "", "task": "Error", "method": GOOD_ZH, "motivation": GOOD_ZH, "keywords": ""},
    )
    verdict = check_entry(legacy, ZH, PH)
    assert list(verdict.fields.items()) == [
        ("conclusion", "empty"),
        ("task", "placeholder"),
        ("result", "empty"),
    ]
    assert not verdict.whole_entry


def test_whole_entry_when_language_is_wrong_anywhere_or_nothing_is_left() -> None:
    one_wrong = check_entry(entry(**five(GOOD_ZH) | {"method": GOOD_EN}), ZH, PH)
    assert one_wrong.fields == {"method": "wrong_language"}
    assert one_wrong.whole_entry
    one_placeholder = check_entry(entry(**five(GOOD_ZH) | {"method": "Method extraction failed"}), ZH, PH)
    assert one_placeholder.needs_repair
    assert not one_placeholder.whole_entry
    assert check_entry(entry(**five("Error")), ZH, PH).whole_entry
    nothing = check_entry(Entry(id="2601.00002"), ZH, PH)
    assert nothing.fields == dict.fromkeys(FIELDS, "empty")
    assert nothing.whole_entry


def test_good_entry_needs_nothing_and_serialises() -> None:
    verdict = check_entry(entry(**{name: f"{GOOD_ZH}（{n}）" for n, name in enumerate(FIELDS)}), ZH, PH)
    assert not verdict.needs_repair
    assert EntryVerdict.model_validate_json(verdict.model_dump_json()) == verdict


# Dropped papers -------------------------------------------------------------------------------------


def test_missing_ids_keeps_raw_order_once_each() -> None:
    enhanced = ["2601.00002", "2601.00004v2"]
    raw = ["2601.00005", "2601.00001", "2601.00002", "2601.00005", "2601.00004", "2601.00003"]
    assert missing_ids(enhanced, raw) == ["2601.00005", "2601.00001", "2601.00003"]
    assert missing_ids(raw, raw) == []
    assert missing_ids([], ["2601.00009v1", "2601.00009"]) == ["2601.00009v1"]


# Real data ------------------------------------------------------------------------------------------

_LABELS = {
    "TL;DR:": "tldr",
    "Motivation:": "motivation",
    "Method:": "method",
    "Result:": "result",
    "Conclusion:": "conclusion",
}


def seed_entries(path: Path) -> list[Entry]:
    """The seed's entries, parsed just enough for detection (the format module is tested elsewhere)."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n### [")[1:]:
        found = re.search(r"arxiv\.org/abs/([0-9.]+)", block)
        assert found is not None
        fields = {
            key: line[len(label) :].strip()
            for line in block.splitlines()
            for label, key in _LABELS.items()
            if line.startswith(label)
        }
        entries.append(Entry(id=found.group(1), fields=fields))
    return entries


def jsonl_entries(path: Path) -> list[Entry]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Entry(id=row["id"], fields=row.get("AI", {})) for row in rows]


def test_seed_as_an_english_digest(seed_path: Path) -> None:
    entries = seed_entries(seed_path)
    verdicts = [check_entry(e, EN, PH) for e in entries]
    assert len(entries) == 99
    good = [e.id for e, v in zip(entries, verdicts, strict=True) if not v.needs_repair]
    assert good == ["2601.18800", "2601.19085", "2601.19179"]
    reasons = Counter(frozenset(v.fields.values()) for v in verdicts if v.needs_repair)
    assert reasons == {frozenset({"placeholder"}): 72, frozenset({"wrong_language"}): 24}
    assert all(v.whole_entry and len(v.fields) == 5 for v in verdicts if v.needs_repair)


def test_seed_as_a_chinese_digest(seed_path: Path) -> None:
    verdicts = {e.id: check_entry(e, ZH, PH) for e in seed_entries(seed_path)}
    broken = {i: v for i, v in verdicts.items() if v.needs_repair}
    assert len(broken) == 75
    english = [i for i, v in broken.items() if "wrong_language" in v.fields.values()]
    assert english == ["2601.18800", "2601.19085", "2601.19179"]


# file -> (entries needing repair, of which in the wrong language)
CORPUS = {
    "2025-03-20_AI_enhanced_Chinese.jsonl": (8, 3),
    "2025-04-11_AI_enhanced_Chinese.jsonl": (5, 5),
    "2025-05-19_AI_enhanced_Chinese.jsonl": (3, 2),  # 2505.10836 is in Traditional Chinese
    "2025-06-23_AI_enhanced_Chinese.jsonl": (3, 2),
    "2025-10-13_AI_enhanced_Chinese.jsonl": (2, 1),
    "2025-10-23_AI_enhanced_Chinese.jsonl": (3, 0),
    "2026-05-02_AI_enhanced_Chinese.jsonl": (0, 0),
    "2026-05-21_AI_enhanced_Chinese.jsonl": (48, 0),
    "2026-06-02_AI_enhanced_Chinese.jsonl": (1, 0),
}


@pytest.mark.parametrize(("name", "expected"), CORPUS.items())
def test_corpus_counts(corpus_dir: Path, name: str, expected: tuple[int, int]) -> None:
    verdicts = [check_entry(e, ZH, PH) for e in jsonl_entries(corpus_dir / name)]
    broken = [v for v in verdicts if v.needs_repair]
    wrong = [v for v in broken if "wrong_language" in v.fields.values()]
    assert (len(broken), len(wrong)) == expected
    assert not any(v.refused for v in verdicts)
    assert all(set(v.fields.values()) <= {"placeholder", "wrong_language"} for v in broken)
    assert all(len(v.fields) == 5 for v in broken)


def test_corpus_summaries_about_compliance_are_not_refusals(corpus_dir: Path) -> None:
    by_id = {e.id: e for e in jsonl_entries(corpus_dir / "2026-05-02_AI_enhanced_Chinese.jsonl")}
    chinese = by_id["2604.27251"]
    assert "compliance" in chinese.fields["result"]
    assert check_entry(chinese, ZH, PH) == EntryVerdict(fields={}, refused=False)
    old = {e.id: e for e in jsonl_entries(corpus_dir / "2025-04-11_AI_enhanced_Chinese.jsonl")}
    english = old["2504.07854"]
    assert "compliance" in english.fields["motivation"]
    assert check_entry(english, EN, PH) == EntryVerdict(fields={}, refused=False)
    assert check_entry(english, ZH, PH).fields == dict.fromkeys(english.fields, "wrong_language")


def test_corpus_dropped_papers(corpus_dir: Path) -> None:
    enhanced = jsonl_entries(corpus_dir / "2026-05-21_AI_enhanced_Chinese.jsonl")
    raw = jsonl_entries(corpus_dir / "2026-05-21.jsonl")
    missing = missing_ids([e.id for e in enhanced], [e.id for e in raw])
    assert len(missing) == 60
    assert len(set(missing)) == 60
    order: dict[str, int] = {}
    for position, e in enumerate(raw):
        order.setdefault(e.id, position)
    assert missing == sorted(missing, key=order.__getitem__)
    assert not set(missing) & {e.id for e in enhanced}


# The fast paths of check_entry must give the verdict of the plain rules, field by field --------------


def _plain_verdict(entry: Entry, language: Language, placeholders: Placeholders) -> tuple[dict[str, str], bool]:
    """check_entry spelled out without any shortcut: every field's form, then its language, one by one."""
    broken: dict[str, str] = {}
    refused = False
    seen: set[str] = set()
    for key, text in entry.fields.items():
        name = canonical(key)
        if name not in FIELDS or name in seen:
            continue
        seen.add(name)
        reason = _form_reason(text, placeholders)
        if reason == "refused":
            refused = True
        elif reason is not None:
            broken[key] = reason
        elif not matches(text.strip(), language):
            broken[key] = "wrong_language"
    broken.update({name: "empty" for name in FIELDS if name not in seen})
    return broken, refused


def _corpus_entries(corpus_dir: Path, seed_path: Path) -> list[Entry]:
    entries = [e for path in sorted(corpus_dir.glob("*_AI_enhanced_*.jsonl")) for e in jsonl_entries(path)]
    return entries + seed_entries(seed_path)


def test_check_entry_agrees_with_the_plain_rules_on_the_corpus(corpus_dir: Path, seed_path: Path) -> None:
    entries = _corpus_entries(corpus_dir, seed_path)
    damaged = "方法：使用\tau 作为温度\x08eta，\n\nabla 与 \ufffd"
    entries.append(Entry(id="x", fields=dict.fromkeys(FIELDS, damaged)))
    entries.append(Entry(id="y", fields={**five(GOOD_ZH), "method": "　" + GOOD_ZH + "\u200b"}))
    entries.append(Entry(id="z", fields={**five(GOOD_ZH), "result": GOOD_ZH + "\ufffd"}))  # printable
    entries.append(Entry(id="r", fields={**five(GOOD_ZH), "tldr": REFUSAL}))
    marks = Placeholders(["深度*", "Ｅrror again"])
    checked = Counter[str]()
    for target in (ZH, EN, resolve("Japanese")):
        for item in entries:
            verdict = check_entry(item, target, marks)
            assert (dict(sorted(verdict.fields.items())), verdict.refused) == tuple(
                (dict(sorted(part.items())) if isinstance(part, dict) else part)
                for part in _plain_verdict(item, target, marks)
            ), item.id
            checked.update(verdict.fields.values())
    assert checked["wrong_language"] > 1000 and checked["placeholder"] > 100 and checked["corrupted"] >= 5


@given(st.text(alphabet="v0123456789.٣ \nab", max_size=12))
def test_bare_id_is_the_version_suffix_regex(paper_id: str) -> None:
    assert _bare_id(paper_id) == re.sub(r"v\d+$", "", paper_id.strip())
