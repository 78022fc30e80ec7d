"""Markdown digests: structure-based parsing, byte-exact round trips and field-only edits."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from resummarize.digest import load
from resummarize.digest.markdown import MarkdownDigest
from resummarize.digest.model import FIELDS
from resummarize.errors import InputError

#: No `explain` phase: it imports libcst, whose deprecation warning pytest turns into an error.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)


@dataclass(frozen=True)
class Paper:
    """What a generated entry holds; `build` lays it out as upstream does."""

    id: str
    version: str
    title: str
    authors: tuple[str, ...]
    category: str
    fields: tuple[str, ...]
    abstract: tuple[str, ...]


def build(papers: list[Paper], nl: str = "\n", final: bool = True, bom: bool = False) -> str:
    categories = list(dict.fromkeys(p.category for p in papers))
    out = ["<div id=toc></div>", "", "# Table of Contents", ""]
    out += [f"- [{c}](#{c}) [Total: {sum(p.category == c for p in papers)}]" for c in categories]
    number = 0
    for category in categories:
        out += ["", "", f"<div id='{category}'></div>", "", f"# {category} [[Back]](#toc)", ""]
        for paper in (p for p in papers if p.category == category):
            number += 1
            if number > 1 and out[-1] == "</details>":
                out += ["", ""]
            out += entry_lines(number, paper)
    text = nl.join(out) + (nl if final else "")
    return ("\ufeff" if bom else "") + text


def entry_lines(number: int, paper: Paper) -> list[str]:
    tldr, motivation, method, result, conclusion = paper.fields
    return [
        f"### [{number}] [{paper.title}](https://arxiv.org/abs/{paper.id}{paper.version})",
        f"*{','.join(paper.authors)}*",
        "",
        f"Main category: {paper.category}",
        "",
        f"TL;DR: {tldr}",
        "",
        "",
        "<details>",
        "  <summary>Details</summary>",
        f"Motivation: {motivation}",
        "",
        f"Method: {method}",
        "",
        f"Result: {result}",
        "",
        f"Conclusion: {conclusion}",
        "",
        "Abstract: " + "\n".join(paper.abstract),
        "",
        "</details>",
    ]


SPECIALS = st.sampled_from(
    ["$x^2$", "$$\\int$$", "<b>", ">", "\\tau", "\\\\", "中文摘要", "[a](b)", "](", " ", "\t", "\x0c"]
)
ONE_LINE = st.lists(
    st.one_of(
        SPECIALS, st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=12)
    ),
    max_size=4,
).map("".join)
NAME = st.text(st.sampled_from("AbcdéK 李王"), min_size=1, max_size=8).map(str.strip).filter(bool)
ABSTRACT_LINE = ONE_LINE.filter(lambda s: s.strip() != "</details>" and not s.startswith("### ["))
ABSTRACT = (
    st.tuples(ONE_LINE, st.lists(ABSTRACT_LINE, max_size=3))
    .map(lambda t: (t[0], *t[1]))
    .filter(lambda lines: len(lines) == 1 or bool(lines[-1].strip()))
)


@st.composite
def papers(draw: st.DrawFn) -> list[Paper]:
    count = draw(st.integers(1, 4))
    return [
        Paper(
            id=f"2601.{draw(st.integers(10000, 99999))}",
            version=draw(st.sampled_from(["", "v2"])),
            title=draw(ONE_LINE),
            authors=tuple(draw(st.lists(NAME, min_size=1, max_size=3))),
            category=draw(st.sampled_from(["cs.LG", "stat.ML", "cs.CL"])),
            fields=tuple(draw(ONE_LINE) for _ in FIELDS),
            abstract=draw(ABSTRACT),
        )
        for _ in range(count)
    ]


def in_file_order(items: list[Paper]) -> list[Paper]:
    categories = list(dict.fromkeys(p.category for p in items))
    return [p for c in categories for p in items if p.category == c]


@settings(max_examples=120, deadline=None, phases=PHASES)
@given(papers(), st.sampled_from(["\n", "\r\n"]), st.booleans(), st.booleans())
def test_generated_digests_round_trip_and_parse(items: list[Paper], nl: str, final: bool, bom: bool) -> None:
    data = build(items, nl, final, bom).encode("utf-8")
    digest = MarkdownDigest.parse(data, None)
    assert digest.to_bytes() == data
    assert digest.diagnostics == []
    for paper, entry in zip(in_file_order(items), digest.entries, strict=True):
        assert entry.id == paper.id
        assert entry.title == paper.title
        assert entry.authors == list(paper.authors)
        assert entry.categories == [paper.category]
        assert entry.fields == dict(zip(FIELDS, paper.fields, strict=True))
        assert entry.abstract == "\n".join(paper.abstract)


@settings(max_examples=120, deadline=None, phases=PHASES)
@given(papers(), st.sampled_from(["\n", "\r\n"]), st.booleans(), st.data())
def test_single_field_edit_changes_only_that_field(
    items: list[Paper], nl: str, final: bool, data: st.DataObject
) -> None:
    ordered = in_file_order(items)
    digest = MarkdownDigest.parse(build(ordered, nl, final).encode("utf-8"), None)
    index = data.draw(st.integers(0, len(ordered) - 1))
    name = data.draw(st.sampled_from(FIELDS))
    value = data.draw(ONE_LINE)
    digest.set_fields(index, {name: value})
    fields = list(ordered[index].fields)
    fields[FIELDS.index(name)] = value
    ordered[index] = replace(ordered[index], fields=tuple(fields))
    assert digest.to_bytes() == build(ordered, nl, final).encode("utf-8")
    assert digest.entries[index].fields[name] == value


def test_seed_round_trips_and_parses(seed_path: Path) -> None:
    digest = load(seed_path)
    assert isinstance(digest, MarkdownDigest)
    assert digest.to_bytes() == seed_path.read_bytes()
    assert len(digest.entries) == 99
    assert digest.diagnostics == []
    assert [e.categories[0] for e in digest.entries].count("stat.ML") == 7
    first = digest.entries[0]
    assert (first.id, first.line, first.authors[0]) == ("2601.18800", 13, "Yoontae Hwang")
    assert first.title == "NavFormer: IGRF Forecasting in Moving Coordinate Frames"
    assert first.fields["result"].startswith("Experiments across five flights")
    assert sum(e.fields["tldr"] == "Summary generation failed" for e in digest.entries) == 72
    multi = digest.entries[12]
    assert multi.id == "2601.19030"
    assert "(RL). In the classic setting" in multi.abstract
    assert "\n  We provide a novel finite-sample analysis" in multi.abstract
    assert multi.abstract.endswith("coverage in linear OPE.")


@pytest.mark.parametrize(
    ("nl", "final", "bom"), [("\r\n", True, False), ("\n", False, False), ("\n", True, True)]
)
def test_seed_variants_round_trip(seed_path: Path, tmp_path: Path, nl: str, final: bool, bom: bool) -> None:
    text = seed_path.read_text(encoding="utf-8").replace("\n", nl)
    text = ("\ufeff" if bom else "") + (text if final else text.rstrip("\r\n"))
    path = tmp_path / "digest.md"
    path.write_bytes(text.encode("utf-8"))
    digest = load(path)
    assert digest.to_bytes() == path.read_bytes()
    original = load(seed_path)
    assert [e.model_dump(exclude={"line"}) for e in digest.entries] == [
        e.model_dump(exclude={"line"}) for e in original.entries
    ]


def test_seed_edit_keeps_crlf_and_other_bytes(seed_path: Path) -> None:
    data = seed_path.read_bytes().replace(b"\n", b"\r\n")
    digest = MarkdownDigest.parse(data, seed_path)
    new = "A VAE in hyperspherical coordinates detects anomalies better (中文 $z$)."
    digest.set_fields(1, {"tldr": new})
    at = data.index(b"TL;DR: ", data.index(b"### [2]")) + len(b"TL;DR: ")
    old = b"Summary generation failed"
    assert data[at : at + len(old)] == old
    assert digest.to_bytes() == data[:at] + new.encode("utf-8") + data[at + len(old) :]
    assert MarkdownDigest.parse(digest.to_bytes(), None).entries[1].fields["tldr"] == new


def one_entry(body: str, header: str = "### [1] [Title](https://arxiv.org/abs/2601.00001)") -> bytes:
    return (header + "\n*A,B*\n\nMain category: cs.LG\n\n" + body + "\n</details>\n").encode("utf-8")


FULL_BODY = (
    "TL;DR: t\n\n\n<details>\n  <summary>Details</summary>\nMotivation: m\n\nMethod: me\n\n"
    "Result: r\n\nConclusion: c\n\nAbstract: a\n"
)


def test_title_with_brackets_and_link_syntax_uses_last_link() -> None:
    header = "### [7] [On [x](y) and $\\mathbb{R}^{[n]}$ ](z)](https://arxiv.org/abs/2601.00001v3)"
    entry = MarkdownDigest.parse(one_entry(FULL_BODY, header), None).entries[0]
    assert entry.title == "On [x](y) and $\\mathbb{R}^{[n]}$ ](z)"
    assert entry.id == "2601.00001"


def test_old_style_id_keeps_its_slash() -> None:
    header = "### [1] [Old](https://arxiv.org/abs/math/0601001v1)"
    assert MarkdownDigest.parse(one_entry(FULL_BODY, header), None).entries[0].id == "math/0601001"


def test_non_arxiv_link_is_a_diagnostic() -> None:
    header = "### [1] [Elsewhere](https://example.org/paper)"
    digest = MarkdownDigest.parse(one_entry(FULL_BODY, header), None)
    assert digest.entries[0].id == "https://example.org/paper"
    assert "no arXiv id" in digest.diagnostics[0].message


def test_continuation_lines_belong_to_the_field_and_are_replaced_together() -> None:
    body = FULL_BODY.replace("Motivation: m\n", "Motivation: m\nsecond line\n")
    data = one_entry(body)
    digest = MarkdownDigest.parse(data, None)
    assert digest.entries[0].fields["motivation"] == "m\nsecond line"
    digest.set_fields(0, {"motivation": "new"})
    assert digest.to_bytes() == data.replace(b"Motivation: m\nsecond line\n", b"Motivation: new\n")


def test_abstract_keeps_label_like_and_blank_lines() -> None:
    body = FULL_BODY.replace("Abstract: a\n", "Abstract: a\nMethod: not a field\n\n  more\n\n")
    digest = MarkdownDigest.parse(one_entry(body), None)
    assert digest.entries[0].abstract == "a\nMethod: not a field\n\n  more"
    assert digest.entries[0].fields["method"] == "me"


def test_missing_abstract_is_a_diagnostic_and_the_rest_loads() -> None:
    data = (
        one_entry(FULL_BODY.replace("Abstract: a\n", ""))
        + b"\n\n"
        + one_entry(FULL_BODY).replace(b"[1]", b"[2]")
    )
    digest = MarkdownDigest.parse(data, None)
    assert [e.abstract for e in digest.entries] == ["", "a"]
    assert len(digest.diagnostics) == 1
    assert digest.diagnostics[0].line == 1
    assert "no abstract" in digest.diagnostics[0].message
    assert digest.to_bytes() == data


def test_missing_fields_are_absent_and_can_be_added_in_place() -> None:
    body = FULL_BODY.replace("Method: me\n\nResult: r\n\n", "")
    digest = MarkdownDigest.parse(one_entry(body), None)
    assert list(digest.entries[0].fields) == ["tldr", "motivation", "conclusion"]
    digest.set_fields(0, {"result": "r", "method": "me"})
    assert digest.to_bytes() == one_entry(FULL_BODY)
    assert list(digest.entries[0].fields) == list(FIELDS)


def test_label_without_space_gets_one_when_written() -> None:
    data = one_entry(FULL_BODY.replace("Result: r", "Result:"))
    digest = MarkdownDigest.parse(data, None)
    assert digest.entries[0].fields["result"] == ""
    digest.set_fields(0, {"result": "r"})
    assert digest.to_bytes() == one_entry(FULL_BODY)


def test_legacy_key_task_edits_tldr() -> None:
    digest = MarkdownDigest.parse(one_entry(FULL_BODY), None)
    digest.set_fields(0, {"task": "new"})
    assert b"TL;DR: new\n" in digest.to_bytes()


def test_multi_line_values_are_refused_before_anything_changes() -> None:
    data = one_entry(FULL_BODY)
    digest = MarkdownDigest.parse(data, None)
    for bad in ("two\nlines", "carriage\rreturn"):
        with pytest.raises(ValueError, match="one line"):
            digest.set_fields(0, {"tldr": "fine", "method": bad})
    with pytest.raises(KeyError):
        digest.set_fields(0, {"keywords": "x"})
    assert digest.to_bytes() == data


@pytest.mark.parametrize(
    ("data", "line", "words"),
    [
        (one_entry(FULL_BODY)[:-12], 1, "truncated"),
        (
            one_entry(FULL_BODY).replace(b"</details>\n", b"") + one_entry(FULL_BODY),
            1,
            "before the next entry",
        ),
        (b"intro\n\n" + one_entry(FULL_BODY) + b"\n\n" + one_entry(FULL_BODY)[:200], 26, "truncated"),
    ],
    ids=["cut-at-end", "details-never-closed", "second-entry-cut"],
)
def test_truncated_digest_names_the_entry_line(data: bytes, line: int, words: str) -> None:
    with pytest.raises(InputError, match=words) as info:
        MarkdownDigest.parse(data, Path("d.md"))
    assert info.value.line == line
    assert info.value.path == "d.md"


def test_no_entries_is_not_a_digest() -> None:
    with pytest.raises(InputError, match=r"no '### \[n\] \[title\]\(url\)' entries"):
        MarkdownDigest.parse(b"# Notes\n\nJust prose.\n", Path("notes.md"))


def test_invalid_utf8_is_refused_with_its_line() -> None:
    with pytest.raises(InputError, match="not UTF-8") as info:
        MarkdownDigest.parse(one_entry(FULL_BODY).replace(b"Method: me", b"Method: \xff"), None)
    assert info.value.line == 13
