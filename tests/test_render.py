"""The markdown renderer reproduces upstream's layout exactly."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from resummarize.cli import main
from resummarize.digest import load
from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.markdown import MarkdownDigest
from resummarize.digest.model import Entry
from resummarize.digest.render import DEFAULT_CATEGORIES, render_markdown


def as_jsonl(objects: list[dict[str, Any]]) -> JsonlDigest:
    return JsonlDigest.parse("".join(json.dumps(o) + "\n" for o in objects).encode(), None)


def obj_of(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "categories": entry.categories,
        "pdf": f"https://arxiv.org/pdf/{entry.id}",
        "abs": f"https://arxiv.org/abs/{entry.id}",
        "authors": entry.authors,
        "title": entry.title,
        "comment": None,
        "summary": entry.abstract,
        "AI": entry.fields,
    }


def test_render_reproduces_the_seed(seed_path: Path) -> None:
    seed = load(seed_path)
    digest = as_jsonl([obj_of(e) for e in seed.entries])
    assert render_markdown(digest).encode("utf-8") == seed_path.read_bytes()


def test_categories_in_order_of_first_appearance_numbered_across_the_digest() -> None:
    objects: list[dict[str, Any]] = [
        {"id": "1", "categories": ["stat.ML", "cs.LG"], "title": "One", "authors": ["A"], "summary": "s1"},
        {"id": "2", "categories": ["cs.LG"], "title": "Two", "authors": ["B", "C"], "summary": "s2"},
        {"id": "3", "categories": ["stat.ML"], "abs": "https://arxiv.org/abs/3v2", "title": "Three"},
    ]
    objects[0]["AI"] = {"tldr": "t1"}
    objects[1]["AI"] = {"task": "legacy", "motivation": "m"}
    objects[2].update(authors=[], summary="s3\n  more", AI={})
    text = render_markdown(as_jsonl(objects))
    toc, stat, cs = text.split("\n\n\n<div id=")
    assert toc == (
        "<div id=toc></div>\n\n# Table of Contents\n\n"
        "- [stat.ML](#stat.ML) [Total: 2]\n- [cs.LG](#cs.LG) [Total: 1]"
    )
    assert stat.startswith(
        "'stat.ML'></div>\n\n# stat.ML [[Back]](#toc)\n\n### [1] [One](https://arxiv.org/abs/1)\n*A*\n"
    )
    assert "### [2] [Three](https://arxiv.org/abs/3v2)\n**\n\nMain category: stat.ML\n\nTL;DR: \n\n\n" in stat
    assert stat.endswith("Abstract: s3\n  more\n\n</details>")
    assert cs.startswith(
        "'cs.LG'></div>\n\n# cs.LG [[Back]](#toc)\n\n### [3] [Two](https://arxiv.org/abs/2)\n*B,C*\n"
    )
    assert "TL;DR: legacy\n\n\n<details>\n  <summary>Details</summary>\nMotivation: m\n\nMethod: \n\n" in cs
    assert cs.endswith("</details>\n")


def test_rendered_corpus_file_parses_back_to_the_same_papers(corpus_dir: Path) -> None:
    source = load(corpus_dir / "2025-10-23_AI_enhanced_Chinese.jsonl")
    assert isinstance(source, JsonlDigest)
    rendered = MarkdownDigest.parse(render_markdown(source).encode("utf-8"), None)
    found = list(dict.fromkeys(e.categories[0] for e in source.entries))
    order = list(dict.fromkeys([*(c for c in DEFAULT_CATEGORIES if c in found), *found]))
    assert len(order) > 1 and order != found  # upstream's default puts cs.CV and cs.CL first
    by_category = sorted(source.entries, key=lambda e: order.index(e.categories[0]))
    assert [e.id for e in rendered.entries] == [e.id for e in by_category]
    assert [e.fields for e in rendered.entries] == [e.fields for e in by_category]
    assert [e.abstract for e in rendered.entries] == [e.abstract for e in by_category]
    assert rendered.diagnostics == []


# --- upstream's category order ------------------------------------------------------------------------

#: The category order of upstream's own markdown for the corpus days (its `CATEGORIES` first, the rest
#: in Python's set order of that run).
UPSTREAM_ORDER = {
    "2026-05-21": "cs.CV, cs.CL, cs.GT, cs.AI, cs.CE, cs.GR, cs.IT",
    "2026-06-02": "cs.CV, cs.CL, cs.AI, cs.GT, cs.CE, cs.GR, cs.IT",
}


def render_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    code = main(["render", *map(str, args)])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out


@pytest.mark.parametrize("day", list(UPSTREAM_ORDER))
def test_categories_env_reproduces_upstreams_markdown_byte_for_byte(
    day: str, corpus_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CATEGORIES", UPSTREAM_ORDER[day])
    out = render_cli(capsys, corpus_dir / f"{day}_AI_enhanced_Chinese.jsonl")
    assert out.encode("utf-8") == (corpus_dir / f"{day}.md").read_bytes()


def toc(text: str) -> list[str]:
    return re.findall(r"^- \[([^\]]+)\]", text, re.MULTILINE)


def test_upstreams_default_and_the_flag_put_their_categories_first(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = corpus_dir / "2026-05-21_AI_enhanced_Chinese.jsonl"
    monkeypatch.delenv("CATEGORIES", raising=False)
    assert toc(render_cli(capsys, source))[:2] == ["cs.CV", "cs.CL"]
    monkeypatch.setenv("CATEGORIES", "cs.AI,cs.GR")
    assert toc(render_cli(capsys, source))[:2] == ["cs.AI", "cs.GR"]
    assert toc(render_cli(capsys, source, "--categories", "cs.IT, nope, cs.CE"))[:2] == ["cs.IT", "cs.CE"]


def test_render_over_an_existing_digest_keeps_its_order(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "2026-06-02.md"
    shutil.copyfile(corpus_dir / "2026-06-02.md", target)
    monkeypatch.delenv("CATEGORIES", raising=False)
    render_cli(capsys, corpus_dir / "2026-06-02_AI_enhanced_Chinese.jsonl", "-o", target)
    assert target.read_bytes() == (corpus_dir / "2026-06-02.md").read_bytes()
    render_cli(capsys, corpus_dir / "2026-06-02_AI_enhanced_Chinese.jsonl", "-o", target, "--categories", "cs.IT")
    assert toc(target.read_text(encoding="utf-8"))[0] == "cs.IT"  # an explicit flag wins
