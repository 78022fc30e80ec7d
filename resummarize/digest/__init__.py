"""The digest formats: load a file (markdown or enhanced JSONL), recognised by suffix or content.

The formats live beside this module: `model` (Digest, Entry), `markdown`, `jsonl`, `render`, and `files`
(reading bytes, the folder walker, raw crawls).
"""

from __future__ import annotations

from pathlib import Path

from resummarize.digest.files import (
    HEADER_BYTES,
    iter_digest_paths,
    raw_sibling,
    read_bytes,
    read_raw_ids,
    read_raw_objects,
)
from resummarize.digest.jsonl import JsonlDigest
from resummarize.digest.markdown import MarkdownDigest
from resummarize.digest.model import Digest
from resummarize.digest.names import BOM
from resummarize.errors import InputError

__all__ = [
    "JsonlDigest",
    "MarkdownDigest",
    "iter_digest_paths",
    "load",
    "load_digest",
    "raw_sibling",
    "read_raw_ids",
    "read_raw_objects",
]


def load(path: str | Path) -> Digest:
    """Read one digest file, markdown or enhanced JSONL, recognised by suffix or else by content."""
    path = Path(path)
    data = read_bytes(path)
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return MarkdownDigest.parse(data, path)
    if suffix == ".jsonl" or data.removeprefix(BOM).lstrip().startswith(b"{"):
        return JsonlDigest.parse(data, path)
    if HEADER_BYTES.search(data.removeprefix(BOM)):
        return MarkdownDigest.parse(data, path)
    raise InputError(path, "not a digest: no '### [n] [title](url)' entries and not JSON lines")


def load_digest(path: str | Path) -> Digest:
    """`load`, refusing a raw crawl file: it round-trips, but holds no summaries to judge or repair."""
    digest = load(path)
    if isinstance(digest, JsonlDigest) and not digest.enhanced:
        raise InputError(
            path,
            "this is a raw crawl file (papers without 'AI' summaries), not a digest; "
            "use its DATE_AI_enhanced_<Language>.jsonl sibling",
        )
    return digest


