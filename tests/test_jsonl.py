"""Enhanced JSONL digests: exact round trips, style-preserving line rewrites, inserts and bad lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from resummarize.digest import load
from resummarize.digest.jsonl import JsonlDigest, JsonStyle
from resummarize.digest.model import FIELDS, Entry
from resummarize.errors import InputError

#: No `explain` phase: it imports libcst, whose deprecation warning pytest turns into an error.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)
ENHANCED = "2025-05-19_AI_enhanced_Chinese.jsonl"
LEGACY = "2025-03-20_AI_enhanced_Chinese.jsonl"


def paper(paper_id: str, **ai: Any) -> dict[str, Any]:
    return {
        "id": paper_id,
        "categories": ["cs.LG", "stat.ML"],
        "pdf": f"https://arxiv.org/pdf/{paper_id}",
        "abs": f"https://arxiv.org/abs/{paper_id}",
        "authors": ["A", "B"],
        "title": f"Title {paper_id}",
        "comment": None,
        "summary": f"Abstract of {paper_id}.\n  Second line.",
        "AI": ai or {name: f"{name} {paper_id}" for name in FIELDS},
    }


UPSTREAM = JsonStyle()


def jsonl(objects: list[Any], style: JsonStyle = UPSTREAM, nl: str = "\n", final: bool = True) -> bytes:
    text = nl.join(o if isinstance(o, str) else style.dumps(o) for o in objects) + (nl if final else "")
    return text.encode("utf-8")


def test_every_corpus_file_round_trips(corpus_dir: Path) -> None:
    files = sorted(corpus_dir.glob("*_AI_enhanced_*.jsonl"))
    assert len(files) == 9
    for path in files:
        digest = load(path)
        assert isinstance(digest, JsonlDigest)
        assert digest.to_bytes() == path.read_bytes()
        assert digest.diagnostics == []
        assert digest.language_hint == "Chinese"


def test_upstream_lines_are_json_dumps_with_ascii_escapes(corpus_dir: Path) -> None:
    for path in sorted(corpus_dir.glob("*_AI_enhanced_*.jsonl")):
        lines = [line for line in path.read_bytes().split(b"\n") if line]
        assert all(json.dumps(json.loads(line)).encode() == line for line in lines)
        digest = load(path)
        assert isinstance(digest, JsonlDigest)
        assert digest.style == JsonStyle(ensure_ascii=True, item_separator=", ", key_separator=": ")


def test_corpus_entries_parse(corpus_dir: Path) -> None:
    legacy = load(corpus_dir / LEGACY)
    assert len(legacy.entries) == 657
    assert len({e.id for e in legacy.entries}) == 211  # duplicates stay: entries are positional
    assert list(legacy.entries[0].fields) == ["task", "motivation", "method", "result", "conclusion"]
    assert legacy.entries[0].key_for("tldr") == "task"
    current = load(corpus_dir / ENHANCED)
    first = json.loads((corpus_dir / ENHANCED).read_bytes().split(b"\n")[0])
    entry = current.entries[0]
    assert (entry.id, entry.title, entry.abstract, entry.line) == (
        first["id"],
        first["title"],
        first["summary"],
        1,
    )
    assert entry.authors == first["authors"]
    assert entry.categories == first["categories"]
    assert entry.fields == first["AI"]


def test_set_fields_rewrites_only_that_line_in_corpus(corpus_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / LEGACY
    shutil.copy(corpus_dir / LEGACY, path)
    original = path.read_bytes().split(b"\n")
    digest = load(path)
    digest.set_fields(5, {"tldr": "新的摘要 with $\\tau$", "result": "结果"})
    lines = digest.to_bytes().split(b"\n")
    assert [i for i, (a, b) in enumerate(zip(original, lines, strict=True)) if a != b] == [5]
    obj = json.loads(original[5])
    obj["AI"]["task"] = "新的摘要 with $\\tau$"
    obj["AI"]["result"] = "结果"
    assert lines[5] == json.dumps(obj).encode()
    assert b"\\u65b0" in lines[5]
    assert digest.entries[5].fields["task"] == "新的摘要 with $\\tau$"
    assert "tldr" not in digest.entries[5].fields


def test_duplicate_ids_are_edited_by_position(corpus_dir: Path) -> None:
    digest = load(corpus_dir / LEGACY)
    ids = [e.id for e in digest.entries]
    second = ids.index(ids[0], 1)
    digest.set_fields(second, {"task": "only the second copy"})
    again = JsonlDigest.parse(digest.to_bytes(), None)
    assert again.entries[0].fields["task"] != "only the second copy"
    assert again.entries[second].fields["task"] == "only the second copy"


def test_raw_utf8_and_compact_styles_are_kept() -> None:
    style = JsonStyle(ensure_ascii=False, item_separator=",", key_separator=":")
    objects = [paper("1"), paper("2", tldr="中文", motivation="m")]
    digest = JsonlDigest.parse(jsonl(objects, style), None)
    assert digest.style == style
    digest.set_fields(0, {"tldr": "新 é"})
    objects[0]["AI"]["tldr"] = "新 é"
    assert digest.to_bytes() == jsonl(objects, style)


def test_ascii_file_without_non_ascii_bytes_writes_escapes() -> None:
    digest = JsonlDigest.parse(jsonl([paper("1")], JsonStyle(ensure_ascii=False)), None)
    digest.set_fields(0, {"tldr": "中"})
    assert b'"tldr": "\\u4e2d"' in digest.to_bytes()


def test_crlf_bom_blank_lines_and_no_final_newline_survive_edits() -> None:
    objects: list[Any] = [paper("1"), "", paper("2"), "   "]
    data = b"\xef\xbb\xbf" + jsonl(objects, nl="\r\n", final=False)
    digest = JsonlDigest.parse(data, None)
    assert digest.to_bytes() == data
    assert [e.id for e in digest.entries] == ["1", "2"]
    digest.set_fields(0, {"method": "new"})
    objects[0]["AI"]["method"] = "new"
    assert digest.to_bytes() == b"\xef\xbb\xbf" + jsonl(objects, nl="\r\n", final=False)


def test_bad_lines_are_diagnostics_and_kept_verbatim() -> None:
    objects: list[Any] = [paper("1"), "{not json", "[1, 2]", '{"title": "no id"}', paper("2"), '{"id": null}']
    data = jsonl(objects) + b"\xff\xfe\n"
    digest = JsonlDigest.parse(data, None)
    assert [e.id for e in digest.entries] == ["1", "2"]
    assert [d.line for d in digest.diagnostics] == [2, 3, 4, 6, 7]
    assert "not JSON" in digest.diagnostics[0].message
    assert "not a paper object" in digest.diagnostics[1].message
    assert "not a paper object" in digest.diagnostics[3].message
    assert "not UTF-8" in digest.diagnostics[4].message
    digest.set_fields(1, {"tldr": "x"})
    lines = digest.to_bytes().split(b"\n")
    assert lines[1:4] == [b"{not json", b"[1, 2]", b'{"title": "no id"}']
    assert lines[5:7] == [b'{"id": null}', b"\xff\xfe"]


def test_missing_summary_and_odd_ai_values_do_not_crash() -> None:
    no_summary = paper("1")
    del no_summary["summary"]
    odd = paper("2", tldr=None, motivation=3, method=["a"], result="r")
    no_ai = paper("3")
    del no_ai["AI"]
    data = jsonl([no_summary, odd, no_ai])
    digest = JsonlDigest.parse(data, None)
    assert digest.entries[0].abstract == ""
    assert digest.entries[1].fields == {"tldr": "", "motivation": "3", "method": "['a']", "result": "r"}
    assert digest.entries[2].fields == {}
    messages = [(d.line, d.id, d.message) for d in digest.diagnostics]
    assert messages == [(1, "1", "no 'summary' (abstract)"), (3, "3", "no 'AI' object")]
    digest.set_fields(1, {"result": "new"})
    assert json.loads(digest.to_bytes().split(b"\n")[1])["AI"] == {
        "tldr": None,
        "motivation": 3,
        "method": ["a"],
        "result": "new",
    }
    digest.set_fields(2, {"tldr": "added"})
    assert json.loads(digest.to_bytes().split(b"\n")[2])["AI"] == {"tldr": "added"}


def test_insert_follows_the_file_key_order_and_style() -> None:
    first = paper("1")
    first["title"] = "Café"  # raw UTF-8 on disk: the file's style is `ensure_ascii=False`
    data = jsonl([first, paper("3")], JsonStyle(ensure_ascii=False), final=False)
    digest = JsonlDigest.parse(data, None)
    new = Entry(id="2", title="T", abstract="摘要", authors=["X"], categories=["cs.CL"], fields={"tldr": "t"})
    digest.insert(1, new, raw={"comment": "10 pages", "code_url": "https://x", "id": "ignored"})
    digest.insert(3, Entry(id="4", fields={"conclusion": "c", "tldr": "t4"}))
    lines = digest.to_bytes().split(b"\n")
    assert len(lines) == 4
    assert lines[0] == jsonl([first], JsonStyle(ensure_ascii=False), final=False)
    inserted = json.loads(lines[1])
    assert list(inserted) == [
        "id",
        "categories",
        "pdf",
        "abs",
        "authors",
        "title",
        "comment",
        "summary",
        "code_url",
        "AI",
    ]
    assert inserted["id"] == "2"
    assert inserted["pdf"] == "https://arxiv.org/pdf/2"
    assert inserted["comment"] == "10 pages"
    assert "摘要".encode() in lines[1]
    last = json.loads(lines[3])
    assert last["comment"] is None
    assert list(last["AI"]) == ["tldr", "conclusion"]
    assert [e.id for e in digest.entries] == ["1", "2", "3", "4"]
    assert not digest.to_bytes().endswith(b"\n")
    digest.set_fields(2, {"tldr": "edited"})
    assert json.loads(digest.to_bytes().split(b"\n")[2])["AI"]["tldr"] == "edited"


def test_insert_maps_canonical_names_to_legacy_keys_and_keeps_crlf() -> None:
    legacy = paper("1", task="t", motivation="m")
    data = jsonl([legacy, ""], nl="\r\n")
    digest = JsonlDigest.parse(data, None)
    digest.insert(1, Entry(id="2", fields={"motivation": "m2", "tldr": "t2"}))
    assert digest.to_bytes().split(b"\r\n")[2:] == [b"", b""]
    assert list(json.loads(digest.to_bytes().split(b"\r\n")[1])["AI"].items()) == [
        ("task", "t2"),
        ("motivation", "m2"),
    ]
    with pytest.raises(IndexError):
        digest.insert(5, Entry(id="x"))


def test_files_that_are_not_digests_are_refused() -> None:
    raw = paper("1")
    del raw["AI"]
    data = jsonl([raw, raw])
    crawl = JsonlDigest.parse(data, Path("2026-05-21.jsonl"))  # parses, round-trips, flagged as raw
    assert crawl.enhanced is False and crawl.to_bytes() == data and crawl.diagnostics == []
    with pytest.raises(InputError, match="no line is a paper object") as info:
        JsonlDigest.parse(b"\n{broken\n[]\n", Path("x.jsonl"))
    assert info.value.line == 2


TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)


@st.composite
def documents(draw: st.DrawFn) -> tuple[list[Any], JsonStyle, str, bool]:
    ensure_ascii = draw(st.booleans())
    compact = draw(st.booleans())
    style = JsonStyle(ensure_ascii, "," if compact else ", ", ":" if compact else ": ")
    objects: list[Any] = []
    for number in range(draw(st.integers(1, 5))):
        if draw(st.integers(0, 4)) == 0:
            objects.append(draw(st.sampled_from(["", "  "])))
        obj = paper(f"2601.{number:05d}", **{name: draw(TEXT) for name in FIELDS})
        obj["title"] = draw(TEXT) + ("é" if number == 0 else "")  # a raw UTF-8 file must show it
        obj["summary"] = draw(TEXT)
        obj["authors"] = draw(st.lists(TEXT, max_size=3))
        objects.append(obj)
    return objects, style, draw(st.sampled_from(["\n", "\r\n"])), draw(st.booleans())


@settings(max_examples=150, deadline=None, phases=PHASES)
@given(documents())
def test_generated_files_round_trip_and_parse(doc: tuple[list[Any], JsonStyle, str, bool]) -> None:
    objects, style, nl, final = doc
    data = jsonl(objects, style, nl, final)
    digest = JsonlDigest.parse(data, None)
    assert digest.to_bytes() == data
    papers = [o for o in objects if isinstance(o, dict)]
    assert [e.fields for e in digest.entries] == [o["AI"] for o in papers]
    assert [(e.title, e.abstract, e.authors) for e in digest.entries] == [
        (o["title"], o["summary"], o["authors"]) for o in papers
    ]
    assert digest.style == style


@settings(max_examples=150, deadline=None, phases=PHASES)
@given(documents(), st.data())
def test_single_field_edit_changes_only_that_line(
    doc: tuple[list[Any], JsonStyle, str, bool], data: st.DataObject
) -> None:
    objects, style, nl, final = doc
    digest = JsonlDigest.parse(jsonl(objects, style, nl, final), None)
    index = data.draw(st.integers(0, len(digest.entries) - 1))
    name = data.draw(st.sampled_from(FIELDS))
    value = data.draw(TEXT)
    digest.set_fields(index, {name: value})
    target = [o for o in objects if isinstance(o, dict)][index]
    target["AI"][name] = value
    assert digest.to_bytes() == jsonl(objects, style, nl, final)
    assert digest.entries[index].fields[name] == value
