"""Links, images and references a reader's renderer makes live are refused unless the abstract gives
them, in every syntax: judged on what GitHub's renderer (cmark-gfm) and a browser's `innerHTML` make of
a field, and checked on the markdown digest a repair writes, rendered the same way."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import cmarkgfm
import pytest
from bs4 import BeautifulSoup
from cmarkgfm.cmark import Options
from engine import run

from resummarize import safety
from resummarize.config import Settings
from resummarize.detect import Placeholders
from resummarize.errors import ValidationFailure
from resummarize.language import resolve
from resummarize.plan import scan_file
from resummarize.provider.answer import validate_fields
from resummarize.testing.answers import HOSTILE
from resummarize.testing.server import FakeProvider, Fault, FaultPlan

TITLE = "Order-Constrained VAEs for 3D Shapes"
ABSTRACT = ("We study VAEs with order constraints on 12 datasets, reaching 99.7% accuracy. Code: "
            "https://github.com/example/ocvae.")
GOOD = {
    "tldr": "A constrained VAE reaches 99.7% accuracy on 12 datasets.",
    "motivation": "Existing VAEs ignore order constraints, which limits their use for shapes.",
    "method": "The authors add an order constraint to the VAE objective and train on shapes.",
    "result": "Accuracy reaches 99.7% on all datasets.",
    "conclusion": "Order constraints make VAEs for 3D shapes more accurate without extra cost.",
}
#: The forms of issue 18 that passed the check before, and their kin; GitHub makes each a live link.
LINKS = {
    "nested brackets": "See [a [b] c](https://evil.example/x) for more.",
    "escaped bracket": "See [a\\]b](https://evil.example/x) for more.",
    "code span": "See [`]`](https://evil.example/x) for more.",
    "inside \\( \\)": "The bound \\( [x](https://evil.example/x) \\) holds.",
    "image after $": "The cost $ ![x](https://evil.example/p.png?$) grows.",
    "bare URL": "More details at https://evil.example/x for readers.",
    "www name": "More details at www.evil-example.com for readers.",
    "e-mail": "Write to someone@evil-example.com for the data.",
    "angle autolink": "See <https://evil.example/x> for more.",
    "reference": "See [x] for more.\n\n[x]: https://evil.example/x",
    "link to the abstract's host": "Code at [repo](https://github.com/example/other).",
}


def problems(result: str) -> list[str]:
    with pytest.raises(ValidationFailure) as caught:
        validate_fields({**GOOD, "result": result}, language=resolve("English"), placeholders=Placeholders(),
                        abstract=ABSTRACT, title=TITLE)
    return caught.value.problems


@pytest.mark.parametrize("form", list(LINKS))
def test_a_link_or_image_the_abstract_does_not_have_is_refused(form: str) -> None:
    found = problems(LINKS[form])
    named = [p for p in found if p.startswith('Field "result"') and ("links or images" in p or "markup" in p)]
    assert len(named) == 1, found  # once: a raw tag's link is named as markup


def test_an_address_of_the_abstract_glued_to_chinese_prose_is_the_abstracts_link() -> None:
    assert safety.links("代码将在https://github.com/example/ocvae上提供。", ABSTRACT) == []
    assert safety.links("代码将在https://github.com/example/ocvae2上提供。", ABSTRACT) != []


def test_the_refusal_names_what_the_reader_would_see() -> None:
    assert safety.links(LINKS["image after $"], ABSTRACT) == ["image https://evil.example/p.png?$"]
    assert safety.links(LINKS["www name"], ABSTRACT) == ["link to http://www.evil-example.com"]


@pytest.mark.parametrize("text", [
    "The code is at https://github.com/example/ocvae for everyone.",
    "The code is at [the repository](https://github.com/example/ocvae).",
    "Accuracy $[0,1]$ stays within bounds, see Section 3 (appendix).",
    "A ratio of 3:1 and an interval [0, 1] (closed) are prose, as is e.g. or i.e.",
])
def test_links_the_abstract_gives_and_bracketed_prose_pass(text: str) -> None:
    clean = validate_fields({**GOOD, "result": text}, language=resolve("English"), placeholders=Placeholders(),
                            abstract=ABSTRACT, title=TITLE)
    assert clean["result"] == text


@pytest.mark.parametrize("text", ["Tom &amp Jerry", "A &lt b and c &gt d", "It is &#106avascript here",
                                  "Our &notit; claim", "The &copy 2024 results"])
def test_character_references_without_a_semicolon_are_refused(text: str) -> None:
    assert any("HTML or markup" in p for p in problems(text))


@pytest.mark.parametrize("text", ["R&D teams & others", "A&B testing", "Q&A pairs and a & b"])
def test_an_ampersand_that_decodes_to_itself_is_prose(text: str) -> None:
    assert safety.references(text) == []


@pytest.mark.parametrize(("text", "language"), [
    ("Accuracy reaches ninety-seven percent on all datasets.", "English"),
    ("It uses twenty-five datasets in all.", "English"),
    ("准确率达到百分之九十七点五，覆盖全部数据集。", "Chinese"),
    ("方法在三千个形状上进行训练和评估。", "Chinese"),
])
def test_figures_spelled_out_count_as_figures(text: str, language: str) -> None:
    fields = {**GOOD, "result": text}
    if language == "Chinese":
        fields = {name: "该方法在十二个数据集上的准确率达到百分之九十九点七。" for name in GOOD} | {"result": text}
    with pytest.raises(ValidationFailure) as caught:
        validate_fields(fields, language=resolve(language), placeholders=Placeholders(), abstract=ABSTRACT,
                        title=TITLE)
    assert any('Field "result"' in p and "numbers" in p for p in caught.value.problems), caught.value.problems


def test_figures_spelled_out_that_the_abstract_states_pass() -> None:
    zh = {name: "该方法在十二个数据集上的准确率达到百分之九十九点七。" for name in GOOD}
    assert validate_fields(zh, language=resolve("Chinese"), placeholders=Placeholders(), abstract=ABSTRACT,
                           title=TITLE) == zh
    en = {**GOOD, "result": "Accuracy reaches ninety-nine point seven percent, about 99.7%, on twelve datasets."}
    assert validate_fields(en, language=resolve("English"), placeholders=Placeholders(), abstract=ABSTRACT,
                           title=TITLE)["result"] == en["result"]


# --- the markdown digest a repair writes, rendered as GitHub renders it ------------------------------------

LINK_FAULTS = [Fault.LINK_NESTED, Fault.LINK_ESCAPED, Fault.LINK_CODE, Fault.LINK_IN_PARENS, Fault.IMAGE_IN_DOLLARS,
               Fault.BARE_URL, Fault.WWW_NAME, Fault.SPELLED_NUMBERS, Fault.REFERENCE_NO_SEMICOLON]


def live_targets(markdown: str) -> set[str]:
    page = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    soup = BeautifulSoup(page, "html.parser")
    return {f"{tag.name} {tag.get('href') or tag.get('src')}" for tag in soup.find_all(["a", "img"])}


async def test_the_written_digest_renders_no_link_or_image_the_input_did_not_have(
    tmp_path: Path, seed_path: Path
) -> None:
    digest = tmp_path / "2026-01-28-cs.LG.md"
    shutil.copyfile(seed_path, digest)
    before = live_targets(digest.read_text(encoding="utf-8"))
    _, scan = scan_file(digest, Settings(language="English"))
    papers = [item.id for item in scan.needs_repair][: len(LINK_FAULTS)]
    plan = FaultPlan.per_paper({paper: [kind] for paper, kind in zip(papers, LINK_FAULTS, strict=True)})
    with FakeProvider(faults=plan) as fake:
        report = await run([digest], fake, tmp_path / "j.db", language="English", concurrency=2)
        log = fake.requests
    assert report.totals.failed == 0 and report.totals.repaired == len(scan.needs_repair)
    for paper, kind in zip(papers, LINK_FAULTS, strict=True):
        assert [r.fault for r in log if r.paper_id == paper] == [kind, None], paper  # refused, asked again
    text = digest.read_text(encoding="utf-8")
    assert live_targets(text) <= before  # the title links and the abstracts' own, nothing more
    for kind in LINK_FAULTS:
        assert HOSTILE[kind].strip() not in text


async def test_the_written_jsonl_holds_no_element_or_reference_for_an_innerhtml_page(
    tmp_path: Path, corpus_dir: Path
) -> None:
    """Upstream's web page sets each field as `innerHTML`: what the browser's parser makes of a written
    field must be the field's own text, with no element and no decoded reference."""
    digest = tmp_path / "2026-05-21_AI_enhanced_Chinese.jsonl"
    shutil.copyfile(corpus_dir / digest.name, digest)
    kinds = [Fault.REFERENCE_NO_SEMICOLON, Fault.HOSTILE_IMG, Fault.HOSTILE_COMMENT, Fault.LINK_NESTED]
    _, scan = scan_file(digest, Settings(language="Chinese"))
    papers = [item.id for item in scan.needs_repair][: len(kinds)]
    plan = FaultPlan.per_paper({paper: [kind] for paper, kind in zip(papers, kinds, strict=True)})
    with FakeProvider(faults=plan) as fake:
        report = await run([digest], fake, tmp_path / "j.db", language="Chinese", concurrency=2)
    assert report.totals.failed == 0 and report.totals.repaired == len(scan.needs_repair)
    for line in digest.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["id"] not in papers:
            continue
        for value in row["AI"].values():
            soup = BeautifulSoup(value, "html.parser")
            assert soup.find_all(True) == [] and soup.get_text() == value == html.unescape(value), value
