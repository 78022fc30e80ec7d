"""Render an enhanced JSONL digest as upstream's markdown digest, byte for byte in upstream's layout.

Papers are grouped by main category (the first of `categories`), numbered across the whole digest.
Categories come in upstream's order: those its `CATEGORIES` variable names first (default `cs.CV, cs.CL`),
in that order, then the rest -- upstream takes those in Python's set order, which changes from run to run,
so we take them in order of first appearance. A digest that exists keeps its own order when re-rendered.
Values are written as they are: a multi-line abstract
stays multi-line, as upstream's converter leaves it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.model import FIELDS, Entry

#: Main category of a paper that lists none (upstream's converter would fail on it).
UNKNOWN_CATEGORY = "unknown"
#: Upstream's default `CATEGORIES`.
DEFAULT_CATEGORIES = ("cs.CV", "cs.CL")
_TOC_LINE = re.compile(r"^- \[(?P<category>[^\]\n]+)\]\(#(?P=category)\) \[Total: \d+\]\r?$", re.MULTILINE)

_PAPER = """### [{number}] [{title}]({url})
*{authors}*

Main category: {category}

TL;DR: {tldr}


<details>
  <summary>Details</summary>
Motivation: {motivation}

Method: {method}

Result: {result}

Conclusion: {conclusion}

Abstract: {abstract}

</details>
"""


def main_category(entry: Entry) -> str:
    return entry.categories[0] if entry.categories else UNKNOWN_CATEGORY


def parse_categories(value: str | None) -> tuple[str, ...]:
    """`CATEGORIES` as upstream reads it: comma-separated, spaces around names ignored; unset: the default."""
    if value is None:
        return DEFAULT_CATEGORIES
    return tuple(name.strip() for name in value.split(",") if name.strip())


def existing_order(path: Path) -> tuple[str, ...] | None:
    """The category order of a markdown digest's table of contents, or None when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return tuple(match["category"] for match in _TOC_LINE.finditer(text))


def category_order(flag: str | None, existing: Path | None, environment: str | None) -> tuple[str, ...]:
    """The order a render uses: the flag; else the order of the digest being re-rendered, so that a
    re-render changes only the entries that changed; else `$CATEGORIES`; else upstream's default."""
    if flag is None and existing is not None and (kept := existing_order(existing)):
        return kept
    return parse_categories(flag or environment)


def render_markdown(digest: JsonlDigest, categories: Sequence[str] = DEFAULT_CATEGORIES) -> str:
    """The markdown digest upstream's converter would write for these papers, `categories` first."""
    found: dict[str, list[int]] = {}
    for index, entry in enumerate(digest.entries):
        found.setdefault(main_category(entry), []).append(index)
    first = [category for category in dict.fromkeys(categories) if category in found]
    groups = {category: found[category] for category in [*first, *found]}
    parts = ["<div id=toc></div>\n\n# Table of Contents\n\n"]
    parts.extend(
        f"- [{category}](#{category}) [Total: {len(members)}]\n" for category, members in groups.items()
    )
    number = 0
    for category, members in groups.items():
        parts.append(f"\n\n<div id='{category}'></div>\n\n# {category} [[Back]](#toc)\n\n")
        papers = []
        for index in members:
            number += 1
            papers.append(_paper(digest, index, number, category))
        parts.append("\n\n".join(papers))
    return "".join(parts)


def _paper(digest: JsonlDigest, index: int, number: int, category: str) -> str:
    entry = digest.entries[index]
    url = digest.raw_object(index).get("abs")
    if not isinstance(url, str) or not url:
        url = f"https://arxiv.org/abs/{entry.id}"
    named = {name: entry.fields.get(entry.key_for(name), "") for name in FIELDS}
    return _PAPER.format(
        number=number,
        title=entry.title,
        url=url,
        authors=",".join(entry.authors),
        category=category,
        abstract=entry.abstract,
        **named,
    )
