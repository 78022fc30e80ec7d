"""The scan's fast paths answer exactly as the slow ones they stand in for.

Parsing: orjson reads most lines; forcing every line through the standard parser must give the same
entries and the same diagnostics. Detection: `plainly_clean` judges a whole digest's fields in C-level
passes; wherever it says clean, `check_entry` must find nothing, and a plan must be the same with it
or without it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resummarize.config import Settings
from resummarize.detect import DEFAULT_PLACEHOLDERS, REFUSAL, EntryVerdict, check_entry, plainly_clean
from resummarize.digest import jsonl as jsonl_module
from resummarize.digest import load_digest, read_raw_ids, read_raw_objects
from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.model import FIELDS, Digest, Entry
from resummarize.language import Language, resolve
from resummarize.plan import plan_digest


def _refuse(_data: Any) -> Any:
    raise orjson.JSONDecodeError("refused for the test", "", 0)


def _standard_parse(data: bytes, monkeypatch: pytest.MonkeyPatch) -> JsonlDigest:
    """The digest as the standard parser alone reads it (orjson refuses every line)."""
    with monkeypatch.context() as patch:
        patch.setattr(jsonl_module.orjson, "loads", _refuse)
        return JsonlDigest.parse(data)


def _same(fast: JsonlDigest, slow: JsonlDigest) -> None:
    assert [e.model_dump() for e in fast.entries] == [e.model_dump() for e in slow.entries]
    assert [d.model_dump() for d in fast.diagnostics] == [d.model_dump() for d in slow.diagnostics]
    assert fast.to_bytes() == slow.to_bytes()
    assert fast.enhanced == slow.enhanced


def test_orjson_reads_the_corpus_as_the_standard_parser_does(
    corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = sorted(corpus_dir.glob("*.jsonl"))
    assert len(files) >= 9
    for path in files:
        data = path.read_bytes()
        _same(JsonlDigest.parse(data), _standard_parse(data, monkeypatch))
    crlf = b"\xef\xbb\xbf" + files[0].read_bytes().replace(b"\n", b"\r\n")  # a BOM and CRLF lines, as on Windows
    _same(JsonlDigest.parse(crlf), _standard_parse(crlf, monkeypatch))


ODD_LINES = [
    # integers beyond 64 bits: orjson would read them as floats
    b'{"id": 123456789012345678901234567890, "title": "T", "summary": "S", "AI": {"tldr": "x"}}',
    b'{"id": "2501.00001", "title": "T", "summary": "S", "authors": [123456789012345678901234567890], "AI": {}}',
    b'{"id": "2501.00002", "title": 99999999999999999999999, "summary": "S", "AI": {"tldr": "x"}}',
    b'{"id": "2501.00003", "title": "T", "summary": "S", "AI": {"tldr": 18446744073709551616}}',
    b'{"id": "2501.00004", "title": "T", "summary": "S", "AI": 18446744073709551616}',
    b'{"id": "2501.00005", "title": "T", "summary": "S", "big": 18446744073709551616, "AI": {"tldr": "x"}}',
    # what orjson refuses and the standard parser reads
    b'{"id": "2501.00006", "title": "\\ud800 lone", "summary": "S", "AI": {"tldr": "x"}}',
    b'{"id": "\\udfff", "title": "T", "summary": "S", "AI": {"tldr": "x"}}',
    b'{"id": "2501.00007", "title": "T", "summary": "S", "score": NaN, "AI": {"tldr": "x"}}',
    b'{"id": "2501.00008", "title": "T", "summary": "S", "AI": {"tldr": "x"}}\x1f',
    # odd but readable by both
    b'{"id": "2501.00009", "title": null, "summary": "S", "AI": {"tldr": "x"}}',
    b'{"id": "2501.00010", "title": "T", "AI": {"tldr": "x"}}',
    b'{"id": 42, "title": "T", "summary": "S", "AI": {"tldr": "x"}}',
    b'{"id": "2501.00011", "title": "T", "summary": "S", "AI": {"tldr": "a", "tldr": "b"}}',
    b'{"id": "2501.00012", "title": "T", "summary": "S", "authors": "One Author", "AI": {"tldr": "x"}}',
    b'{"id": "2501.00013", "title": "T", "summary": "S", "AI": "not an object"}',
    b'{"id": "", "title": "T", "summary": "S", "AI": {"tldr": "x"}}',
    # not paper objects, or not JSON
    b'{"title": "no id"}',
    b'[1, 2, 3]',
    b'{"id": "2501.00014", "title": "T\x01", "summary": "S", "AI": {}}',
    b'\xff\xfe not UTF-8',
]


@pytest.mark.parametrize("line", ODD_LINES, ids=range(len(ODD_LINES)))
def test_an_odd_line_reads_as_the_standard_parser_reads_it(line: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    good = b'{"id": "2501.99999", "title": "T", "summary": "S", "AI": {"tldr": "x"}}'
    data = good + b"\n" + line + b"\n"
    _same(JsonlDigest.parse(data), _standard_parse(data, monkeypatch))


def test_an_integer_beyond_64_bits_keeps_its_digits() -> None:
    digest = JsonlDigest.parse(ODD_LINES[0] + b"\n")
    assert digest.entries[0].id == "123456789012345678901234567890"


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_PAPER = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=8), st.integers(min_value=-(2**70), max_value=2**70))},
    optional={"title": _VALUES, "summary": _VALUES, "authors": _VALUES, "categories": _VALUES,
              "AI": st.dictionaries(st.sampled_from([*FIELDS, "task", "other"]), _VALUES, max_size=6) | _VALUES,
              "comment": _VALUES},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(papers=st.lists(_PAPER, min_size=1, max_size=4), ascii_only=st.booleans())
def test_any_paper_line_reads_as_the_standard_parser_reads_it(
    papers: list[dict[str, Any]], ascii_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"\n".join(json.dumps(p, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass") for p in papers)
    try:
        slow = _standard_parse(data, monkeypatch)
    except Exception as exc:  # no paper object at all: both refuse the file alike
        with pytest.raises(type(exc)):
            JsonlDigest.parse(data)
        return
    _same(JsonlDigest.parse(data), slow)


def test_wanted_raw_papers_are_those_a_full_parse_finds(corpus_dir: Path, tmp_path: Path) -> None:
    raw = corpus_dir / "2026-05-21.jsonl"
    every = read_raw_objects(raw)
    wanted = {str(obj["id"]) for obj in every[::7]}
    assert read_raw_objects(raw, wanted) == [obj for obj in every if str(obj["id"]) in wanted]
    odd = tmp_path / "odd.jsonl"  # a line whose first id is not its id, a compact line, a non-paper line
    odd.write_bytes(b'{"id": "A", "title": "t", "id": "B"}\n{"id":"C","x":1}\n[1]\n{"id": "D"}\n{"id": "B", "n": 2}\n')
    assert read_raw_objects(odd, {"B", "C"}) == [{"id": "B", "title": "t"}, {"id": "C", "x": 1}]
    assert read_raw_objects(odd, {"Z"}) == []  # papers there, none of them wanted: no error
    assert read_raw_ids(odd) == ["B", "C", "D"]  # the ids and the objects agree on the first line's id


# --- detection ---------------------------------------------------------------------------------------


def _check_each(digest: Digest, language: Language) -> dict[int, EntryVerdict]:
    """The verdicts of `plan_digest` without its fast path (and without `mismatched`)."""
    placeholders = Settings().placeholders()
    verdicts = {i: check_entry(e, language, placeholders) for i, e in enumerate(digest.entries)}
    return {i: v for i, v in verdicts.items() if v.needs_repair or v.refused}


def test_plainly_clean_never_hides_a_problem_in_real_digests(corpus_dir: Path, seed_path: Path) -> None:
    settings_ = Settings()
    placeholders = settings_.placeholders()
    said_clean = 0
    for path in [*sorted(corpus_dir.glob("*_AI_enhanced_*.jsonl")), corpus_dir / "2026-05-21.md", seed_path]:
        digest = load_digest(path)
        language, _ = settings_.language_choice(digest, placeholders)
        clean = plainly_clean(digest.entries, language, placeholders)
        for entry, fast in zip(digest.entries, clean, strict=True):
            if fast:
                verdict = check_entry(entry, language, placeholders)
                assert not verdict.needs_repair and not verdict.refused, (path.name, entry.id)
        said_clean += sum(clean)
        plan = plan_digest(digest, settings_)
        own = {i: v for i, v in plan.verdicts.items() if set(v.fields.values()) != {"mismatched"}}
        assert own == _check_each(digest, language)
    assert said_clean > 2000  # the fast path does carry the common case


def test_plainly_clean_carries_most_of_a_clean_chinese_day(corpus_dir: Path) -> None:
    digest = load_digest(corpus_dir / "2026-05-02_AI_enhanced_Chinese.jsonl")
    clean = plainly_clean(digest.entries, resolve("Chinese"), Settings().placeholders())
    assert sum(clean) >= 0.8 * len(clean)


_ZH = "本文提出了一种新的方法，用于解决大语言模型在长文本推理中的效率问题。"
_EN = "We propose a new method for the problem of long context reasoning in large language models."
_PLACEHOLDER_FORMS = [form for p in (*DEFAULT_PLACEHOLDERS, REFUSAL) for form in (
    p.rstrip("*"), " " + p.rstrip("*").upper() + "。", p.rstrip("*").replace(" ", "\u3000"))]
_FIELD_TEXTS = st.sampled_from([
    _ZH, _EN, "", "   ", "N/A", _ZH + "\x07", _EN + "\ufffd", "\u3000" + _ZH, "Ｅｒｒｏｒ", "RL" + _ZH,
    "テストです" + _ZH, "x" * 3, _ZH[:3], "Error: 连接超时，请稍后重试生成摘要和分析", "深度总结生成失败" + _ZH,
    "错误" + _ZH, *_PLACEHOLDER_FORMS,
])


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.lists(_FIELD_TEXTS, min_size=5, max_size=5), min_size=1, max_size=6),
    old_keys=st.booleans(),
    language_name=st.sampled_from(["Chinese", "English", "German"]),
)
def test_plainly_clean_agrees_with_check_entry(rows: list[list[str]], old_keys: bool, language_name: str) -> None:
    keys = ("task", *FIELDS[1:]) if old_keys else FIELDS
    entries = [Entry(id=str(i), fields=dict(zip(keys, row, strict=True))) for i, row in enumerate(rows)]
    entries.append(Entry(id="four", fields=dict(zip(keys[:4], rows[0], strict=False))))
    language = resolve(language_name)
    placeholders = Settings().placeholders()
    for entry, fast in zip(entries, plainly_clean(entries, language, placeholders), strict=True):
        if fast:
            verdict = check_entry(entry, language, placeholders)
            assert not verdict.needs_repair and not verdict.refused, entry.fields
    assert plainly_clean(entries, language, placeholders)[-1] is False  # four fields: looked at closely
