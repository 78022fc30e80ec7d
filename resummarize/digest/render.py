"""Render an enhanced JSONL digest as upstream's markdown digest, byte for byte in upstream's layout.

Papers are grouped by main category (the first of `categories`), categories in order of first
appearance, numbered across the whole digest. Values are written as they are: a multi-line abstract
stays multi-line, as upstream's converter leaves it.
"""

from __future__ import annotations

from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.model import FIELDS, Entry

#: Main category of a paper that lists none (upstream's converter would fail on it).
UNKNOWN_CATEGORY = "unknown"

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


def render_markdown(digest: JsonlDigest) -> str:
    """The markdown digest upstream's converter would write for these papers."""
    groups: dict[str, list[int]] = {}
    for index, entry in enumerate(digest.entries):
        groups.setdefault(main_category(entry), []).append(index)
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
