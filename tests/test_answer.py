"""Parsing and validating model answers: LaTeX survives, damage and unsafe markup never reach a digest."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from resummarize.detect import REFUSAL, Placeholders
from resummarize.digest.model import FIELDS, canonical
from resummarize.errors import ValidationFailure
from resummarize.language import Language, resolve
from resummarize.provider.answer import clean_text, json_schema, parse_answer, protect_latex, validate_fields

ENGLISH = resolve("English")
CHINESE = resolve("Chinese")
PLACEHOLDERS = Placeholders()
ABSTRACT = (
    "We study $\\beta$-VAEs with $x<y>z$ constraints. Our method reaches 92.5% accuracy at p < 0.05 "
    "and improves the F1 score from 0.610 to 0.753 on three benchmarks."
)
GOOD = {
    "tldr": "A constrained $\\beta$-VAE reaches 92.5% accuracy on three benchmarks.",
    "motivation": "Existing VAEs ignore order constraints such as $x<y>z$, which limits their use.",
    "method": "The authors add an order constraint to the $\\beta$-VAE objective and test it at p < 0.05.",
    "result": "Accuracy reaches 92.5% and F1 rises from 0.610 to 0.753 (about 0.75).",
    "conclusion": "Order constraints make VAEs more accurate without extra cost.",
}
GOOD_ZH = {
    "tldr": "本文提出一种带顺序约束的 $\\beta$-VAE，在三个基准上达到 92.5% 的准确率。",
    "motivation": "现有的变分自编码器忽略了顺序约束，限制了它们在实际问题中的应用。",
    "method": "作者在 $\\beta$-VAE 的目标函数中加入顺序约束，并在三个基准上进行检验。",
    "result": "准确率达到 92.5%，F1 分数从 0.610 提升到 0.753。",
    "conclusion": "顺序约束能让变分自编码器在不增加成本的情况下更加准确。",
}


def check(
    raw: Mapping[str, object], language: Language = ENGLISH, abstract: str = ABSTRACT,
) -> dict[str, str]:
    return validate_fields(raw, language=language, placeholders=PLACEHOLDERS, abstract=abstract)


def problems_of(
    raw: Mapping[str, object], language: Language = ENGLISH, abstract: str = ABSTRACT
) -> list[str]:
    with pytest.raises(ValidationFailure) as caught:
        check(raw, language, abstract)
    assert str(caught.value) == "; ".join(caught.value.problems)
    return caught.value.problems


# --- parsing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    ["beta", "frac", "tau", "textit", "nabla", "rho", "theta", "times", "text", "forall", "bar", "right",
     "left", "nu", "alpha", "bX", "underline"],
)
def test_single_backslash_latex_survives_parsing(command: str) -> None:
    answer = '{"tldr": "uses $\\' + command + '{x}$ here"}'
    assert parse_answer(answer) == {"tldr": f"uses ${chr(92)}{command}{{x}}$ here"}


def test_latex_sentence_keeps_every_command_and_no_control_characters() -> None:
    answer = r'{"tldr": "uses \beta and \tau with $\frac{1}{2}$, $\nabla f$ and \textit{x}, \, \{a\} \%"}'
    value = parse_answer(answer)["tldr"]
    assert value == r"uses \beta and \tau with $\frac{1}{2}$, $\nabla f$ and \textit{x}, \, \{a\} \%"
    assert isinstance(value, str) and value.isprintable()


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (r'{"a": "one\n two"}', "one\n two"),
        (r'{"a": "one.\nThe next"}', "one.\nThe next"),
        (r'{"a": "x\n"}', "x\n"),
        (r'{"a": "col\t 2"}', "col\t 2"),
        (r'{"a": "caf\u00e9 \u00E9t\u00e9"}', "café été"),
        (r'{"a": "say \"hi\" a\/b"}', 'say "hi" a/b'),
        (r'{"a": "escaped \\beta stays"}', r"escaped \beta stays"),
        (r'{"a": "line break \\\\ kept"}', r"line break \\ kept"),
        (r'{"a": "$\nRightarrow$"}', r"$\nRightarrow$"),
        (r'{"a": "\underline{x}"}', r"\underline{x}"),
    ],
)
def test_real_json_escapes_still_work(answer: str, expected: str) -> None:
    assert parse_answer(answer) == {"a": expected}


def test_protect_latex_only_doubles_latex_backslashes() -> None:
    assert protect_latex(r"\beta \n \u00e9 \" \\ \/ \,") == r"\\beta \n \u00e9 \" \\ \/ \\,"


@pytest.mark.parametrize(
    "answer",
    [
        '```json\n{"tldr": "A \\\\beta result.", "method": "m"}\n```',
        'Here you go:\n```json\n{"tldr": "A \\beta result.", "method": "m",}\n```\nHope this helps.',
        '{"tldr": "A \\beta result.", "method": "m",}',
        '[{"tldr": "A \\beta result.", "method": "m"}]',
    ],
)
def test_fenced_and_trailing_comma_answers_are_repaired(answer: str) -> None:
    assert parse_answer(answer) == {"tldr": "A \\beta result.", "method": "m"}


def test_truncated_answer_keeps_what_arrived() -> None:
    parsed = parse_answer('{"tldr": "Complete field.", "motivation": "cut off in the mid')
    assert parsed == {"tldr": "Complete field.", "motivation": "cut off in the mid"}
    problems = problems_of({**parsed, "motivation": GOOD["motivation"]})
    assert any('"method"' in p and "missing" in p for p in problems)


@pytest.mark.parametrize(
    "answer",
    ["I'm sorry, I cannot summarise this paper.", "", "   ", '"just a string"', "[1, 2]", "42", "null", "{}"],
)
def test_prose_and_non_objects_are_validation_failures(answer: str) -> None:
    with pytest.raises(ValidationFailure) as caught:
        parse_answer(answer)
    assert "JSON object" in caught.value.problems[0]


# --- validation: the happy path -------------------------------------------------------------------


def test_good_answer_is_cleaned_to_one_line_per_field() -> None:
    messy = {**GOOD, "tldr": "  A constrained $\\beta$-VAE\n reaches\t92.5% accuracy\r\non three benchmarks "}
    clean = check(messy)
    assert list(clean) == list(FIELDS)
    assert clean["tldr"] == "A constrained $\\beta$-VAE reaches 92.5% accuracy on three benchmarks"
    assert clean["motivation"] == GOOD["motivation"]


def test_chinese_answer_with_english_terms_passes_for_a_chinese_digest() -> None:
    assert check(dict(GOOD_ZH), CHINESE) == GOOD_ZH


def test_legacy_task_key_and_key_case_are_accepted() -> None:
    raw: dict[str, object] = {("task" if k == "tldr" else k.upper()): v for k, v in GOOD.items()}
    assert check(raw) == GOOD


@pytest.mark.parametrize(
    "text", ["p < 0.05", "ordered $x<y>z$ values", "a < b > c", "1 <= x", "if a < b holds"]
)
def test_text_that_only_looks_like_html_survives(text: str) -> None:
    assert check({**GOOD, "method": f"The test uses {text} throughout the study."})["method"].count("<") >= 1


def test_clean_text_joins_lines() -> None:
    assert clean_text("  a\tb\n\nc\r\n d\u00a0e  ") == "a b c d e"


# --- validation: problems ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "shown"),
    [
        ("<script>alert(1)</script>", "<script>"),
        ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
        ("</details>", "</details>"),
        ("<details><summary>x</summary>", "<details>"),
        ('<a href="https://example.org">link</a>', '<a href="https://example.org">'),
        ("x<w>z outside math", "<w>"),
        ("<!-- hidden -->", "<!-- hidden -->"),
        ("$x <script>alert(1)</script>$", "<script>"),
        ("$a <img src=x onerror=alert(1)> b$", "<img src=x onerror=alert(1)>"),
        ("$a</details>$", "</details>"),
        ("$a <y class=z> b$", "<y class=z>"),
    ],
)
def test_html_is_rejected(markup: str, shown: str) -> None:
    (problem,) = problems_of({**GOOD, "result": f"Accuracy reaches 92.5% {markup} in tests."})
    assert problem.startswith('Field "result" contains HTML') and shown in problem


@pytest.mark.parametrize(
    "text", ["### Results are good here", "use ```code``` blocks"]
)
def test_markdown_structure_is_rejected(text: str) -> None:
    (problem,) = problems_of({**GOOD, "conclusion": text})
    assert problem.startswith('Field "conclusion" contains markdown')


def test_inline_enumeration_and_emphasis_are_allowed() -> None:
    text = "1) an order constraint; 2) a **new** loss; 3) a cheap solver."
    assert check({**GOOD, "method": text})["method"] == text


@pytest.mark.parametrize(
    "damaged", ["uses \x08eta here", "uses \x0crac{1}{2} here", "with $\tau$ decay", "a $\nabla$ b"]
)
def test_control_characters_from_eaten_latex_are_rejected(damaged: str) -> None:
    (problem,) = problems_of({**GOOD, "method": f"The method {damaged} for training."})
    assert problem.startswith('Field "method" contains control characters')
    assert "\\\\" in problem  # tells the model how to escape a backslash


def test_placeholder_is_rejected_naming_the_field() -> None:
    (problem,) = problems_of({**GOOD, "motivation": "Motivation analysis unavailable"})
    assert problem.startswith('Field "motivation" is a placeholder')


def test_refusal_is_rejected() -> None:
    (problem,) = problems_of({**GOOD, "conclusion": REFUSAL})
    assert problem.startswith('Field "conclusion" is a refusal')


def test_wrong_language_is_rejected_naming_the_field() -> None:
    (problem,) = problems_of({**GOOD, "result": GOOD_ZH["motivation"]})
    assert problem == 'Field "result" is not in English: write it in English.'
    problems = problems_of({**GOOD_ZH, "method": GOOD["motivation"]}, CHINESE)
    assert problems == ['Field "method" is not in Chinese: write it in Chinese.']


def test_length_bounds() -> None:
    long_tldr = " ".join(["word"] * 61)
    assert check({**GOOD, "tldr": " ".join(["word"] * 60)})["tldr"].count("word") == 60
    (problem,) = problems_of({**GOOD, "tldr": long_tldr})
    assert "tldr" in problem and "61 words" in problem and "60" in problem
    (problem,) = problems_of({**GOOD, "method": " ".join(["word"] * 121)})
    assert "method" in problem and "120" in problem
    (problem,) = problems_of({**GOOD_ZH, "tldr": "模型" * 101}, CHINESE)
    assert "tldr" in problem and "202 characters" in problem
    assert check({**GOOD_ZH, "tldr": "模型" * 100}, CHINESE)["tldr"] == "模型" * 100
    (problem,) = problems_of({**GOOD, "result": "ok"})
    assert problem.startswith('Field "result" is too short')


def test_invented_numbers_are_rejected_but_rounding_and_percent_pass() -> None:
    (problem,) = problems_of({**GOOD, "result": "Accuracy reaches 97.3% on all benchmarks."})
    assert "97.3" in problem and 'Field "result"' in problem
    assert check({**GOOD, "result": "F1 rises to 75.3% from 61.0%, about 0.75."})
    plain = {**GOOD, "motivation": "Existing VAEs ignore order constraints, which limits their use."}
    assert check({**plain, "result": "Accuracy reaches 97.3% on all benchmarks."}, abstract="")


def test_every_problem_is_reported_together() -> None:
    raw: dict[str, object] = {
        "tldr": "Summary generation failed",
        "motivation": GOOD_ZH["motivation"],
        "method": "<script>x</script> runs " + " ".join(["word"] * 130),
        "result": 3,
        "extra": "x",
        "notes": "y",
    }
    problems = problems_of(raw)
    assert [p.split('"')[1] for p in problems] == [
        "tldr", "motivation", "method", "method", "result", "conclusion", "extra",
    ]
    assert "placeholder" in problems[0] and "not in English" in problems[1]
    assert "too long" in problems[2] and "HTML" in problems[3] and "string" in problems[4]
    assert problems[5].startswith('Add the missing field "conclusion"')
    assert problems[6].startswith('Remove the extra keys "extra", "notes"')


def test_missing_empty_and_duplicate_fields() -> None:
    raw: dict[str, object] = {**GOOD, "task": GOOD["tldr"], "method": "  \n "}
    del raw["conclusion"]
    problems = problems_of(raw)
    assert 'Give the field "tldr" only once.' in problems
    assert any(p.startswith('Field "method" is empty') for p in problems)
    assert any(p.startswith('Add the missing field "conclusion"') for p in problems)


def test_summary_schema_is_strict_without_defaults() -> None:
    schema = json_schema(FIELDS)
    assert schema["required"] == [*FIELDS, "evidence"]  # evidence is checked, never written
    assert schema["additionalProperties"] is False
    assert all("default" not in spec for spec in schema["properties"].values())


# --- real data ---------------------------------------------------------------------------------------


def test_upstream_summaries_roundtrip_and_mostly_validate(corpus_dir: Path) -> None:
    """Good summaries from the real corpus survive a JSON round trip and pass validation."""
    path = corpus_dir / "2026-05-02_AI_enhanced_Chinese.jsonl"
    passed = total = 0
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            fields = {canonical(k): v for k, v in record["AI"].items()}
            assert parse_answer(json.dumps(fields, ensure_ascii=False)) == fields
            total += 1
            try:
                check(fields, CHINESE, record["summary"])
            except ValidationFailure:
                continue
            passed += 1
    assert total == 200 and passed >= 190
