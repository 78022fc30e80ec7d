"""Language names, environment values, noise stripping and the script / classifier decisions."""

# Full-width punctuation and Greek letters are the point of these samples.

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resummarize import language
from resummarize.errors import InputError, UsageError
from resummarize.langmodel import read_model
from resummarize.language import (
    LANGUAGES,
    Language,
    detect,
    from_environment,
    matches,
    matches_many,
    plainly_han,
    plainly_written_each,
    resolve,
    strip_noise,
)

ZH_WITH_TERMS = "提出 HaKAN：基于 Hahn-KAN 的时间序列预测网络，在 ETTh1 和 Weather 数据集上优于 PatchTST。"
EN_WITH_GLOSS = "We use the term 注意力 (attention) for the mechanism that weights tokens by their relevance."
ZH_PLAIN = "本文提出了一种新的图像分割方法，并在多个公开数据集上取得了最好的结果。"
EN_PLAIN = (
    "The authors propose a new method for medical image segmentation and evaluate it on three benchmarks."
)
DE_LONG = "Die Autoren schlagen ein neues Verfahren zur Segmentierung medizinischer Bilder vor."
FR_LONG = "Les auteurs proposent une nouvelle méthode pour la segmentation des images médicales."
ES_LONG = "Los autores proponen un nuevo método para la segmentación de imágenes médicas."
IT_LONG = "Gli autori propongono un nuovo metodo per la segmentazione delle immagini mediche."
PT_LONG = "Os autores propõem um novo método para a segmentação de imagens médicas com redes."
VI_LONG = "Các tác giả đề xuất một phương pháp mới cho phân đoạn hình ảnh y tế."
RU_LONG = "Авторы предлагают новый метод сегментации медицинских изображений."
UK_LONG = "Автори пропонують новий метод сегментації медичних зображень на основі мереж."
JA_LONG = "本研究では、医療画像のセグメンテーションのための新しい手法を提案する。"
KO_LONG = "저자들은 의료 영상 분할을 위한 새로운 방법을 제안한다."
AR_LONG = "يقترح المؤلفون طريقة جديدة لتجزئة الصور الطبية."


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("English", "en"),
        ("english", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("chinese", "zh"),
        ("Simplified Chinese", "zh"),
        ("Chinese (Traditional)", "zh-Hant"),
        ("中文", "zh"),
        ("zh", "zh"),
        ("zh-CN", "zh"),
        ("zh_TW", "zh-Hant"),
        ("  Korean ", "ko"),
        ("日本語", "ja"),
        ("Deutsch", "de"),
        ("français", "fr"),
        ("pt-BR", "pt"),
        ("Tiếng Việt", "vi"),
        ("العربية", "ar"),
    ],
)
def test_resolve_names_and_codes(value: str, code: str) -> None:
    assert resolve(value).code == code


@pytest.mark.parametrize("value", ["xx", "", "Klingon", "qq-CN"])
def test_resolve_unknown_is_a_usage_error(value: str) -> None:
    with pytest.raises(UsageError) as info:
        resolve(value)
    assert str(info.value) == (
        f"unknown language {value!r} (use a name such as English or an ISO 639-1 code)"
    )
    assert isinstance(info.value, InputError)
    assert info.value.exit_code == 2


def test_table_covers_the_required_languages_with_their_scripts() -> None:
    expected = {
        "en": ("English", "Latin"),
        "zh": ("Chinese", "Han"),
        "ja": ("Japanese", "Kana"),
        "ko": ("Korean", "Hangul"),
        "ru": ("Russian", "Cyrillic"),
        "de": ("German", "Latin"),
        "fr": ("French", "Latin"),
        "es": ("Spanish", "Latin"),
        "it": ("Italian", "Latin"),
        "pt": ("Portuguese", "Latin"),
        "ar": ("Arabic", "Arabic"),
        "vi": ("Vietnamese", "Latin"),
    }
    for code, (name, script) in expected.items():
        assert resolve(code) == Language(name, code, script)
        assert resolve(name) == resolve(code)
    assert len({lang.code for lang in LANGUAGES}) == len(LANGUAGES)


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("en_US:en", "en"),
        ("zh_CN.UTF-8", "zh"),
        ("de_DE@euro", "de"),
        ("Chinese", "zh"),
        ("C:fr_FR", "fr"),
        ("tlh:es", "es"),
    ],
)
def test_from_environment_reads_posix_lists(value: str, code: str) -> None:
    found = from_environment(value)
    assert found is not None
    assert found.code == code


@pytest.mark.parametrize("value", [None, "", "C", "POSIX", "C.UTF-8", "klingon", ":"])
def test_from_environment_gives_none_for_unusable_values(value: str | None) -> None:
    assert from_environment(value) is None


def test_strip_noise_keeps_only_prose() -> None:
    text = (
        r"Using $\alpha=0.5$ and $$\sum_i x_i$$ with \(y\) and \[z^2\], see https://github.com/a/b "
        r"or www.example.org, run `pip install x`, cite \textit{foo} in 3,000.5 runs."
    )
    assert strip_noise(text) == "Using and with and , see or , run , cite {foo} in runs."


def test_strip_noise_stops_urls_at_prose() -> None:
    text = "代码见https://github.com/a/b-c，实验表明(see www.example.org/x?q=1)。"
    assert strip_noise(text) == "代码见 ，实验表明(see )。"


def test_strip_noise_leaves_plain_text_alone() -> None:
    assert strip_noise(ZH_WITH_TERMS) == ZH_WITH_TERMS.replace("ETTh1", "ETTh")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (ZH_WITH_TERMS, "zh"),
        (ZH_PLAIN, "zh"),
        (EN_WITH_GLOSS, "en"),
        (EN_PLAIN, "en"),
        (DE_LONG, "de"),
        (FR_LONG, "fr"),
        (ES_LONG, "es"),
        (IT_LONG, "it"),
        (PT_LONG, "pt"),
        (VI_LONG, "vi"),
        (RU_LONG, "ru"),
        (UK_LONG, "uk"),
        (JA_LONG, "ja"),
        (KO_LONG, "ko"),
        (AR_LONG, "ar"),
    ],
)
def test_detect(text: str, code: str) -> None:
    assert detect(text) == code


@pytest.mark.parametrize("text", ["", "   ", "Das Modell", r"$x^2$ 12.5 https://example.org/a", "好"])
def test_detect_gives_none_when_there_is_too_little(text: str) -> None:
    assert detect(text) is None


def test_chinese_dense_with_english_terms_is_chinese() -> None:
    assert matches(ZH_WITH_TERMS, resolve("zh"))
    assert not matches(ZH_WITH_TERMS, resolve("en"))


def test_english_with_a_cjk_gloss_is_english() -> None:
    assert matches(EN_WITH_GLOSS, resolve("en"))
    assert not matches(EN_WITH_GLOSS, resolve("zh"))


@pytest.mark.parametrize("text", [ZH_PLAIN, JA_LONG, KO_LONG, RU_LONG, AR_LONG])
def test_other_scripts_are_not_english(text: str) -> None:
    assert not matches(text, resolve("English"))


@pytest.mark.parametrize("text", [DE_LONG, FR_LONG, ES_LONG, IT_LONG, PT_LONG, VI_LONG])
def test_same_script_languages_are_told_apart_when_long_enough(text: str) -> None:
    assert not matches(text, resolve("English"))
    assert matches(text, resolve(detect(text) or "?"))


@pytest.mark.parametrize("text", ["Das Modell", "Ergebnisse und Diskussion", "Résumé", "Sí"])
def test_short_same_script_text_is_not_flagged(text: str) -> None:
    assert matches(text, resolve("English"))


def test_japanese_and_chinese_are_told_apart() -> None:
    assert not matches(JA_LONG, resolve("Chinese"))
    assert matches(JA_LONG, resolve("Japanese"))
    assert not matches(ZH_PLAIN, resolve("Japanese"))
    assert not matches(KO_LONG, resolve("Chinese"))


def test_japanese_dense_with_english_terms_is_japanese() -> None:
    text = "本研究では、Transformer ベースの Vision-Language Model を用いた新しい手法を提案する。"
    assert detect(text) == "ja"
    assert matches(text, resolve("ja"))
    assert not matches(text, resolve("zh"))
    assert not matches(text, resolve("en"))


def test_a_language_outside_the_table_is_judged_by_script_only() -> None:
    klingon = Language("Klingon", "tlh", "Latin")
    assert matches(DE_LONG, klingon)
    assert not matches(ZH_PLAIN, klingon)


def test_russian_and_ukrainian_are_told_apart() -> None:
    assert matches(RU_LONG, resolve("ru"))
    assert not matches(UK_LONG, resolve("ru"))
    assert not matches(EN_PLAIN, resolve("ru"))


@pytest.mark.parametrize(
    "text", ["", "LLM", r"$\frac{a}{b}$ (2024) https://arxiv.org/abs/2601.18800", "α, β, γ"]
)
def test_text_without_enough_letters_matches_any_language(text: str) -> None:
    assert matches(text, resolve("zh"))
    assert matches(text, resolve("en"))


def test_math_symbols_do_not_count_as_greek() -> None:
    assert matches("We set α and β by cross-validation, then anneal γ and δ over training.", resolve("en"))


def test_the_classifier_loads_lazily_and_once() -> None:
    language._classifier.cache_clear()
    assert matches(ZH_PLAIN, resolve("zh"))
    assert not matches(EN_PLAIN, resolve("zh"))
    assert language._classifier.cache_info().currsize == 0
    assert not matches(DE_LONG, resolve("en"))
    assert not matches(FR_LONG, resolve("en"))
    info = language._classifier.cache_info()
    assert info.misses == 1
    assert info.hits >= 1


# matches_many: the entry-level shortcut must agree with `matches` field by field ----------------------

_PIECES = ["提出", "方法", "模型", "实验", "的", "，", "。", "HaKAN", "the model", "$\\alpha$", "123", "ーテスト",
           "한국어", "Привет", "（", "）", "https://x.org/a", "注意力", " ", "English words here", "α"]


@given(st.lists(st.lists(st.sampled_from(_PIECES), min_size=0, max_size=30).map("".join), min_size=1, max_size=6))
def test_matches_many_agrees_with_matches(texts: list[str]) -> None:
    for target in (resolve("Chinese"), resolve("English"), resolve("Japanese")):
        assert matches_many(texts, target) == [matches(text, target) for text in texts]


# plainly_han: the byte-level shortcut for a Han target is sufficient, never decisive the other way ----


def test_plainly_han_implies_matches_on_every_corpus_entry(corpus_dir: Path) -> None:
    chinese = resolve("Chinese")
    passed = total = 0
    for path in sorted(corpus_dir.glob("*_AI_enhanced_*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = json.loads(line).get("AI") or {}
            texts = [str(text).strip() for text in fields.values()]
            total += 1
            if texts and all(plainly_written_each(texts, chinese)):
                passed += 1
                assert all(matches(text, chinese) for text in texts), texts
            for text in texts:  # one field alone, too
                if plainly_written_each([text], chinese)[0]:
                    assert matches(text, chinese), text
    assert passed > 0.9 * total  # the common case really takes the shortcut


def test_plainly_han_refuses_kana_and_a_nul_inside_a_text() -> None:
    assert plainly_han([ZH_PLAIN, ZH_PLAIN])
    assert not plainly_han([ZH_PLAIN, ZH_PLAIN + "テスト"])
    assert not plainly_han([ZH_PLAIN + "\0" + "x" * 200, ZH_PLAIN])  # would shift the per-text counts
    assert not plainly_han(["一二三上下不与中为了于人以使信作体保" * 3])  # U+4E00-U+4FFF: not counted, not wrong


def test_the_model_read_in_one_call_is_py3langids_own(corpus_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`read_model` reads the model itself (one decompression call); it must be the model py3langid loads."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    theirs = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    with monkeypatch.context() as patch:  # ours must not be py3langid's loader in disguise
        patch.setattr(LanguageIdentifier, "from_model_file", None)
        ours = read_model()
    assert type(ours) is LanguageIdentifier and ours.nb_classes == theirs.nb_classes
    assert (ours.nb_ptc == theirs.nb_ptc).all() and (ours.nb_pc == theirs.nb_pc).all()
    assert (ours.tk_nextmove, ours.tk_row, ours.tk_output) == (theirs.tk_nextmove, theirs.tk_row, theirs.tk_output)
    texts = [DE_LONG, FR_LONG, EN_PLAIN, *[line[:300] for line in (corpus_dir / "2026-05-21.jsonl").read_text(
        encoding="utf-8").splitlines()[:40]]]
    assert [ours.classify(text) for text in texts] == [theirs.classify(text) for text in texts]


def test_a_preload_in_the_background_is_the_classifier_used_after() -> None:
    assert language.preload_classifier(resolve("zh")) is None  # one language per script: never needed
    language._classifier.cache_clear()
    language._LOADED.clear()
    thread = language.preload_classifier(resolve("en"))
    assert thread is not None
    thread.join()
    loaded = list(language._LOADED)
    assert len(loaded) == 1
    assert not matches(DE_LONG, resolve("en"))
    assert len(language._LOADED) == 1 and language._LOADED[0] is loaded[0]  # not loaded twice
    assert language.preload_classifier(resolve("en")) is None  # loaded: no thread for a watching worker's next pass


def test_english_with_symbols_needs_no_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """`±`, `×` and curly quotes are not letters: the function-word shortcut still applies."""
    english = resolve("English")
    result = ("Achieves 97.2% puzzle accuracy on Sudoku-Extreme with 10× less compute than TTA, and “winner” "
              "training reaches 96.9% ± 0.6% in a single pass.")
    german = "Die Methode erreicht 97,2 % ± 0,6 % Genauigkeit mit 10× weniger Rechenaufwand als die Basis."
    with monkeypatch.context() as patch:
        patch.setattr(language, "_classifier", None)  # calling it would raise
        assert matches(result, english)
    assert not matches(german, english)  # no English function words: the classifier still decides
    assert not matches("Die Straße der Modelle: größer ist besser für die Genauigkeit.", english)
