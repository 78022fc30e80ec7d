"""Line breaks are content: numbered lists and multi-line fields are good; eaten LaTeX is still damage.

Upstream's data branch holds numbered lists (`1. …\\n2. …`) in its fields; the TABs it holds are all
eaten LaTeX. Fixtures here are built from real corpus fields, shaped the way upstream's files have them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from detection import field_reason

from resummarize.config import Settings
from resummarize.detect import Placeholders, check_entry
from resummarize.digest import load
from resummarize.digest.model import Entry
from resummarize.digest.render import render_markdown
from resummarize.language import resolve
from resummarize.plan import scan_file
from resummarize.provider import answer

ZH = resolve("Chinese")
EN = resolve("English")
PH = Placeholders()
DAY = "2026-05-02_AI_enhanced_Chinese.jsonl"  # a clean day: every field is a good Chinese summary


def corpus_fields(corpus_dir: Path) -> list[dict[str, str]]:
    return [json.loads(line)["AI"] for line in (corpus_dir / DAY).read_text(encoding="utf-8").splitlines()]


def numbered(items: list[str], newline: str = "\n") -> str:
    return newline.join(f"{n}. {item}" for n, item in enumerate(items, 1))


def test_numbered_lists_of_real_chinese_fields_are_good(corpus_dir: Path) -> None:
    fields = corpus_fields(corpus_dir)
    flagged = []
    for ai in fields:
        for newline in ("\n", "\r\n"):
            text = numbered([ai["method"], ai["result"], ai["conclusion"]], newline)
            if field_reason(text, ZH, PH) is not None:
                flagged.append(text)
    assert flagged == []


def test_numbered_lists_in_english_are_good(seed_path: Path) -> None:
    good = [e for e in load(seed_path).entries if e.id in {"2601.18800", "2601.19085", "2601.19179"}]
    texts = [numbered([e.fields["method"], e.fields["result"]]) for e in good]
    texts.append("Three contributions:\n1. a benchmark of 12 tasks;\n2. a new loss;\n3. an open-source library.")
    assert [field_reason(text, EN, PH) for text in texts] == [None] * len(texts)


def test_a_line_break_after_a_colon_or_between_paragraphs_is_good(corpus_dir: Path) -> None:
    ai = corpus_fields(corpus_dir)[0]
    assert field_reason(ai["method"] + "\n\n" + ai["result"], ZH, PH) is None
    assert field_reason("本文的贡献如下：\n" + numbered([ai["tldr"], ai["result"]]), ZH, PH) is None


def test_whole_entries_with_numbered_lists_are_clean(corpus_dir: Path) -> None:
    for ai in corpus_fields(corpus_dir)[:50]:
        fields = dict(ai, method=numbered([ai["method"], ai["result"]]))
        assert not check_entry(Entry(id="x", fields=fields), ZH, PH).needs_repair


@pytest.mark.parametrize(
    ("command", "eaten"),
    [("\\frac", "\x0crac"), ("\\tilde", "\tilde"), ("\\times", "\times"), ("\\bar", "\x08ar")],
)
def test_every_eaten_escape_in_real_latex_is_still_corruption(corpus_dir: Path, command: str, eaten: str) -> None:
    """The real fields that hold `\\frac`, `\\tilde`, `\\times`, `\\bar`, as a JSON parser eats them."""
    hits = [v for ai in _all_fields(corpus_dir) for v in ai.values() if command in v]
    damaged = [v.replace(command, eaten) for v in hits]
    assert damaged and all(field_reason(v, ZH, PH) == "corrupted" for v in damaged)


@pytest.mark.parametrize(
    "tail", ["abla", "u", "eq", "ewline", "oindent", "otin", "eq 0", "u_t", "abla_\\theta", "ot\\in"]
)
def test_a_newline_that_is_the_rest_of_a_latex_command_is_corruption(corpus_dir: Path, tail: str) -> None:
    ai = corpus_fields(corpus_dir)[3]
    text = ai["method"][:20] + "$\n" + tail + "$" + ai["method"][20:]
    assert field_reason(text, ZH, PH) == "corrupted"


@pytest.mark.parametrize("char", ["\t", "\x08", "\x0c", "\x0b", "\x01", "\x1b", "\ufffd", "\x7f"])
def test_other_controls_stay_corruption(char: str) -> None:
    text = "We propose a simple method" + char + "that improves robustness under distribution shift."
    assert field_reason(text, EN, PH) == "corrupted"


def test_a_carriage_return_inside_a_line_is_corruption() -> None:
    text = "The density \rho of the medium is estimated from noisy observations of the flow."
    assert field_reason(text, EN, PH) == "corrupted"
    assert field_reason("A list:\r\n1. first item here\r\n2. second item here", EN, PH) is None


def test_newline_commands_agree_with_the_answer_validator() -> None:
    """Whatever the validator calls an eaten `\\n` command, detection calls corrupted too."""
    tails = answer._EATEN["\n"].split("|")
    for tail in tails:
        assert field_reason(f"We bound the gradient $\n{tail} f$ of the loss at every step.", EN, PH) == "corrupted"


def test_the_validator_accepts_a_numbered_list_answer() -> None:
    fields = {name: "1. The first point of the paper here.\n2. The second point of it." for name in answer.FIELDS}
    out = answer.validate_fields(fields, language=EN, placeholders=PH, abstract="")
    assert all("\n" not in v for v in out.values())


def _all_fields(corpus_dir: Path) -> list[dict[str, str]]:
    out = []
    for path in sorted(corpus_dir.glob("*_AI_enhanced_*.jsonl")):
        out += [json.loads(line)["AI"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def test_a_rendered_digest_with_multiline_fields_scans_clean(corpus_dir: Path, tmp_path: Path) -> None:
    """Upstream's markdown of a JSONL file whose fields hold numbered lists: every entry stays good."""
    lines = (corpus_dir / DAY).read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        obj = json.loads(line)
        ai = obj["AI"]
        ai["method"] = numbered([ai["method"], ai["result"]])
        out.append(json.dumps(obj))
    jsonl = tmp_path / DAY
    jsonl.write_text("\n".join(out) + "\n", encoding="utf-8")
    markdown = tmp_path / "2026-05-02.md"
    markdown.write_text(render_markdown(load(jsonl)), encoding="utf-8")  # type: ignore[arg-type]
    assert re.search(r"\nMethod: 1\. .*\n2\. ", markdown.read_text(encoding="utf-8"))
    for path in (jsonl, markdown):
        _, scan = scan_file(path, Settings(language="Chinese"))
        assert scan.needs_repair == [], path
