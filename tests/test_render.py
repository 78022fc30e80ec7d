"""The markdown renderer reproduces upstream's layout exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from resummarize.digest import load
from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.markdown import MarkdownDigest
from resummarize.digest.model import Entry
from resummarize.digest.render import render_markdown


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
    order = list(dict.fromkeys(e.categories[0] for e in source.entries))
    assert len(order) > 1
    by_category = sorted(source.entries, key=lambda e: order.index(e.categories[0]))
    assert [e.id for e in rendered.entries] == [e.id for e in by_category]
    assert [e.fields for e in rendered.entries] == [e.fields for e in by_category]
    assert [e.abstract for e in rendered.entries] == [e.abstract for e in by_category]
    assert rendered.diagnostics == []
