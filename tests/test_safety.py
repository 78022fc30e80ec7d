"""What a field we write may contain: hostile answers are rejected, upstream's own summaries pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resummarize import load, safety
from resummarize.detect import Placeholders, check_entry
from resummarize.digest.model import FIELDS, canonical
from resummarize.errors import ValidationFailure
from resummarize.language import resolve
from resummarize.provider.answer import parse_answer, validate_fields

ENGLISH = resolve("English")
CHINESE = resolve("Chinese")
TITLE = "Order-Constrained VAEs for 3D Shapes"
ABSTRACT = (
    "We study $\\beta$-VAEs with $x<y>z$ constraints on 12 datasets. Our method reaches 92.5% accuracy "
    "and improves F1 from 0.610 to 0.753 using 1,234 shapes and 580K images."
)
GOOD = {
    "tldr": "A constrained $\\beta$-VAE reaches 92.5% accuracy on 12 datasets.",
    "motivation": "Existing VAEs ignore order constraints such as $x<y>z$, which limits their use.",
    "method": "The authors add an order constraint to the VAE objective and train on about 1,200 shapes.",
    "result": "F1 rises from 0.61 to 0.75, i.e. to 75.3%, with 580K images.",
    "conclusion": "Order constraints make VAEs for 3D shapes more accurate without extra cost.",
}
#: The hostile answers of the issue: each passed validation before.
HOSTILE = {
    "img": "The method works well <img src=x onerror=alert(1)//",
    "svg": "The method works well <svg onload=alert(1)//",
    "iframe": "The method works well <iframe src=https://evil.example/>",
    "comment": "The method works well <!-- and hides the rest",
    "huge word": "The method " + "a" * 50_000,
    "bidi": "The method works \u202eflew skrow\u202c well on the data.",
    "numbers": "The method beats 4711 baselines by 93 percent.",
    "mixed": "The authors add an order constraint to the VAE objective and train it on public shape data. "
             "They compare it with strong baselines under the same budget. 该方法在所有基准上都优于现有方法。",
}


def problems(fields: dict[str, str], language_name: str = "English", abstract: str = ABSTRACT) -> list[str]:
    with pytest.raises(ValidationFailure) as caught:
        validate_fields(fields, language=resolve(language_name), placeholders=Placeholders(), abstract=abstract,
                        title=TITLE)
    return caught.value.problems


def test_a_good_answer_with_figures_from_title_and_abstract_passes() -> None:
    clean = validate_fields(GOOD, language=ENGLISH, placeholders=Placeholders(), abstract=ABSTRACT, title=TITLE)
    assert clean == GOOD


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_every_hostile_answer_of_the_issue_is_rejected(kind: str) -> None:
    found = problems({**GOOD, "method": HOSTILE[kind]})
    assert found and all(p.startswith('Field "method"') and len(p) < 400 for p in found)  # quotes, never 50 kB


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Use <b>bold</b> claims.", "HTML"),
        ("if a <b holds then c", "HTML"),
        ("A </details> breaks the page.", "HTML"),
        ("A <?php echo 1 ?> tag.", "HTML"),
        ("An <!DOCTYPE html> declaration.", "HTML"),
        ("See javascript:alert(1) for details.", "HTML"),
        ("Load data:text/html;base64,PHNjcmlwdD4= now.", "HTML"),
        ("Tom &amp; Jerry &#60;script&#62; are entities.", "HTML"),
        ("Zero\u200bwidth space inside.", "invisible"),
        ("A soft\u00adhyphen and a \ufeffBOM.", "invisible"),
        ("An isolate \u2066here\u2069 too.", "invisible"),
        ("Accuracy reaches 97.3% overall.", "numbers"),
        ("The arXiv id 2601.18800 is not a source.", "numbers"),
        ("It uses 13 datasets.", "numbers"),
    ],
)
def test_whitelist_rejects(text: str, reason: str) -> None:
    found = problems({**GOOD, "result": text})
    assert all(p.startswith('Field "result"') for p in found) and any(reason in p for p in found)


@pytest.mark.parametrize(
    "text",
    [
        "Training data: we collect shapes and score them at 92.5% with a < b.",
        "Results hold for $x<y>z$ orderings and 1,234 shapes (about 1.2K).",
        "F1 improves from 61.0% to 75.3% on twelve datasets, about 0.75.",
        "It uses 12 datasets and 580,000 images.",
    ],
)
def test_whitelist_allows_what_the_paper_says(text: str) -> None:
    clean = validate_fields({**GOOD, "result": text}, language=ENGLISH, placeholders=Placeholders(),
                            abstract=ABSTRACT, title=TITLE)
    assert clean["result"] == text


def test_markup_quoted_from_the_abstract_is_the_inputs_business() -> None:
    abstract = ABSTRACT + " Reasoning models emit a <think> tag before answering."
    fields = {**GOOD, "method": "The model writes a <think> tag first, then answers."}
    assert validate_fields(fields, language=ENGLISH, placeholders=Placeholders(), abstract=abstract)
    assert safety.markup("<think onclick=x>", abstract) == ["<think onclick=x>"]


def test_chinese_units_and_number_words_count_as_the_same_figure() -> None:
    source = "We build a corpus of 580K images, train a 135B model on over three million examples for twelve tasks."
    assert safety.unknown_numbers("构建了58万张图像，1350亿参数，超过300万条样本，12个任务。", source) == []
    assert safety.unknown_numbers("构建了59万张图像", source) == ["59万"]


def test_a_translation_takes_figures_from_the_existing_fields_but_never_markup() -> None:
    fields = {**GOOD, "result": "Accuracy reaches 97.3% <b>overall</b>."}
    with pytest.raises(ValidationFailure) as caught:
        validate_fields(fields, language=ENGLISH, placeholders=Placeholders(), abstract=ABSTRACT,
                        figures="准确率达到 97.3% <b>overall</b>")
    (problem,) = caught.value.problems
    assert "HTML" in problem and "97.3" not in problem.split("(")[0]


def test_a_field_whose_sentences_switch_language_fails_in_chinese_too() -> None:
    zh = {
        "tldr": "本文提出一种带顺序约束的变分自编码器，在12个数据集上达到92.5%的准确率。",
        "motivation": "现有的变分自编码器忽略了顺序约束，限制了它们在实际问题中的应用。",
        "method": "作者在变分自编码器的目标函数中加入顺序约束，并在十二个公开数据集上进行系统的训练和检验。"
                  "The authors claim that it clearly wins.",
        "result": "F1 分数从 0.610 提升到 0.753。",
        "conclusion": "顺序约束能让变分自编码器在不增加成本的情况下更加准确。",
    }
    (problem,) = problems(zh, "Chinese")
    assert problem.startswith('Field "method" switches language')


def test_upstream_summaries_fed_back_as_answers_pass_at_least_99_percent(corpus_dir: Path) -> None:
    placeholders = Placeholders()
    total = passed = 0
    for path in sorted(corpus_dir.glob("*_AI_enhanced_*.jsonl")):
        for entry in load(path).entries:
            if check_entry(entry, CHINESE, placeholders).needs_repair:
                continue
            fields = {canonical(k): v for k, v in entry.fields.items() if canonical(k) in FIELDS}
            total += 1
            try:
                validate_fields(parse_answer(json.dumps(fields, ensure_ascii=False)), language=CHINESE,
                                placeholders=placeholders, abstract=entry.abstract, title=entry.title)
            except ValidationFailure:
                continue
            passed += 1
    assert total > 2000 and passed / total >= 0.99
