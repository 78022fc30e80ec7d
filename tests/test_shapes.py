"""Failure markers recognised by their shape, in the languages digests are written in, not only by list."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from resummarize.detect import Placeholders, check_entry
from resummarize.digest.model import FIELDS, Entry
from resummarize.language import resolve
from resummarize.shapes import placeholder_shape

EN = resolve("English")
ZH = resolve("Chinese")
PH = Placeholders()

GOOD_EN = {
    "tldr": "A contrastive objective improves dense retrieval on three benchmarks.",
    "motivation": "Dense retrievers trained on one domain transfer poorly to others.",
    "method": "The authors add a contrastive loss over hard negatives mined from a second encoder.",
    "result": "Recall@10 rises by 4 points on BEIR and by 2 points on MS MARCO.",
    "conclusion": "Cheap negative mining makes retrievers more robust across domains.",
}

#: Markers other pipelines write, as the issue lists them, and one or more per language.
MARKERS = [
    "?", "-", "--", "...", "N/A", "n/a", "None", "null", "NULL", "No AI result", "Error parsing result",
    "Error accessing result", "요약 생성 실패", "要約の生成に失敗しました", "エラー", "生成失败", "摘要生成失败",
    "暂无", "无", "生成失敗", "暫無", "Fehler", "Zusammenfassung nicht verfügbar", "Erreur", "Résumé non disponible",
    "Resultado no disponible", "Ошибка", "Недоступно", "Lỗi", "Không có tóm tắt", "Erro", "Falhou",
    "Fehler: Zeitüberschreitung beim Abruf", "错误：请求超时", "OK",
]


def _entry(fields: dict[str, str]) -> Entry:
    return Entry(id="2601.00001", title="t", abstract="a", fields=fields)


@pytest.mark.parametrize("marker", MARKERS)
def test_a_marker_in_one_field_of_a_good_english_entry_is_a_placeholder(marker: str) -> None:
    """In an English digest no wrong-language verdict helps: the shape alone must tell."""
    verdict = check_entry(_entry({**GOOD_EN, "result": marker}), EN, PH)
    assert verdict.fields == {"result": "placeholder"}


@pytest.mark.parametrize("marker", MARKERS)
def test_a_marker_in_a_chinese_digest_is_a_placeholder_not_a_language_problem(marker: str) -> None:
    fields = {name: f"提出一种基于对比学习的检索方法，在三个基准上提升了召回率（{n}）。"
              for n, name in enumerate(FIELDS)}
    verdict = check_entry(_entry({**fields, "method": marker}), ZH, PH)
    assert verdict.fields == {"method": "placeholder"}


@pytest.mark.parametrize("text", ["?", "Pending review", "Not yet", "见原文"])
def test_the_same_short_text_in_all_five_fields_is_a_placeholder(text: str) -> None:
    verdict = check_entry(_entry(dict.fromkeys(FIELDS, text)), EN, PH)
    assert verdict.fields == dict.fromkeys(FIELDS, "placeholder")


@pytest.mark.parametrize("text", [
    "Improves accuracy by 3%.", "Error rates fall by half.", "No retraining needed.", "Works offline.",
    "None of the baselines generalise.", "Failure cases are analysed.", "Unavailable labels are imputed.",
    "Not available for non-English data yet.", "Null results for GPT-2.", "Errors-in-variables regression.",
    "Error analysis of Adam.", "Failed attempts teach too.", "Exact recovery.", "No free lunch.",
    "Summary statistics suffice.", "降低错误率", "无需重新训练", "无监督学习有效", "失败案例分析表明鲁棒性不足",
])
def test_short_real_fields_are_not_placeholders(text: str) -> None:
    """Short is not broken: a terse model writes short fields, and they mention errors and failures."""
    assert not placeholder_shape(text)
    language = ZH if not text.isascii() else EN
    fields = {**GOOD_EN, "result": text} if language is EN else {
        name: f"提出一种基于对比学习的检索方法（{n}）。" for n, name in enumerate(FIELDS)} | {"result": text}
    assert check_entry(_entry(fields), language, PH).fields == {}


def test_a_long_summary_is_never_judged_by_its_words() -> None:
    text = "No " + "model " * 30 + "result is available for this error analysis."
    assert not placeholder_shape(text)


def _read_word_by_word(text: str) -> bool:
    """The rule `placeholder_shape` applies after its quick refusals, read the slow way: only failure words
    and the words around them, at least one failure word."""
    import unicodedata

    from resummarize.shapes import _FAILURE_WORDS, _WORDS

    folded = unicodedata.normalize("NFKC", text.strip()).casefold()
    return (any(word in _FAILURE_WORDS for word in _WORDS.findall(folded))
            and not any(ch.isalnum() for ch in _WORDS.sub(" ", folded)))


_PIECES = ["error", "Summary", "failed", "生成", "失败", "无", "：", "，", "（", "Ｎ/Ａ", "ｅrror", "1", "模型",
           "要約", "に", "失敗", "ＡＩ", " ", "-", "e\u0301", "résumé", "가", "\u11a8", "か", "\u3099", "不可用"]


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map("".join))
@settings(max_examples=400, deadline=None)
def test_the_quick_refusals_never_change_a_verdict(text: str) -> None:
    """Letters no vocabulary word spells settle a field before it is read word by word (the common case,
    and most of a scan's time); that shortcut must agree with the reading on every mix of scripts,
    full-width forms and combining marks."""
    from resummarize.shapes import _ERROR_OPENING, SHAPE_MAX, _too_short

    stripped = text.strip()
    assume(stripped and len(stripped) <= SHAPE_MAX)
    assume(not _ERROR_OPENING.match(stripped[:24]) and not _too_short(stripped))
    assert placeholder_shape(text) == _read_word_by_word(text)
