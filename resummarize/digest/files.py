"""Digest files on disk: read their bytes, find digests in folders (the one walker) and read raw crawls.

Every failure to read a file becomes one `InputError` naming the file, so a run can report it in one
line instead of a traceback.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from resummarize.digest.jsonl import is_paper, iter_objects
from resummarize.digest.names import BOM, ENHANCED_NAME
from resummarize.errors import InputError

HEADER_BYTES = re.compile(rb"^### \[\d+\] \[", re.MULTILINE)
#: How far into a `.md` file a folder walk looks for an entry header before deciding it is no digest.
_SNIFF_BYTES = 64 * 1024
#: How many non-blank lines of a `.jsonl` file a folder walk reads to find an `AI` object.
_SNIFF_LINES = 5


def read_bytes(path: Path) -> bytes:
    """The file's bytes, refusing what can never be a digest (folders, empty and binary files)."""
    if path.is_dir():
        raise InputError(path, "is a directory; pass a digest file (scan and repair accept folders)")
    _regular(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(path, "no such file") from exc
    except PermissionError as exc:
        raise InputError(path, "cannot read the file: permission denied") from exc
    except OSError as exc:
        raise InputError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    body = data.removeprefix(BOM)
    if not body or body.isspace():  # not `strip()`: that copies the whole file
        raise InputError(path, "empty file, not a digest")
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(path, "binary file (NUL bytes), not a digest", line=line)
    return data


def _regular(path: Path) -> None:
    """Refuse a FIFO, a device or a socket before opening it: reading one hangs or never ends."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return  # reading it says why
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise InputError(path, f"is {kind}, not a regular file: pass a digest file")


def iter_digest_paths(paths: Iterable[str | Path], *, require: bool = True) -> Iterator[Path]:
    """Expand folders (recursively, hidden ones skipped) to their digests, sorted, each once; files pass
    as given.

    A folder yields `*.md` files that hold an entry header near their start (so a README is not taken
    for a digest), `*_AI_enhanced_*.jsonl` files, and other `*.jsonl` files only when their first lines
    carry `AI` objects, which leaves raw crawl files out. A file named explicitly is always yielded,
    so that `load` can say what is wrong with it. With `require`, a folder holding no digest is an input
    error, so that a mistyped or wrong data folder is reported instead of passing as "nothing to repair"
    (a watching worker passes False: an empty folder just has nothing yet).
    """
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        found = sorted(_digests_below(path)) if path.is_dir() else [path]
        if require and not found:
            raise InputError(path, "no digests found under this folder (no *.md digest or enhanced JSONL file)")
        for item in found:
            if item not in seen:
                seen.add(item)
                yield item


def _digests_below(root: Path) -> Iterator[Path]:
    """Every digest below `root`; a subfolder that cannot be read is an error, not a silent gap."""

    def refuse(exc: OSError) -> None:
        raise InputError(exc.filename or root, f"cannot read the folder: {exc.strerror or exc}") from exc

    for folder, subfolders, names in os.walk(root, onerror=refuse):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in names:
            path = Path(folder, name)
            if not name.startswith(".") and path.is_file() and _is_digest_file(path):
                yield path


def _is_digest_file(path: Path) -> bool:
    name = path.name
    if name.endswith(".md"):
        return _has_entry_header(path)
    if name.endswith(".jsonl"):
        return ENHANCED_NAME.fullmatch(name) is not None or _is_enhanced(path)
    return False


def _has_entry_header(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return True  # let `load` report why it cannot be read
    return HEADER_BYTES.search(head.removeprefix(BOM)) is not None


def _is_enhanced(path: Path) -> bool:
    """Whether one of the first few JSON lines is an object with an `AI` key."""
    try:
        with path.open("rb") as handle:
            seen = 0
            for line in handle:
                if not line.strip():
                    continue
                head = _first_object(line.removeprefix(BOM))
                if head is not None:
                    return "AI" in head
                seen += 1
                if seen >= _SNIFF_LINES:
                    break
    except OSError:
        return True  # let `load` report why it cannot be read
    return False


def _first_object(line: bytes) -> dict[str, Any] | None:
    for _, obj, _problem in iter_objects(line):
        if isinstance(obj, dict):
            return obj
    return None


def raw_sibling(path: str | Path) -> Path | None:
    """The raw crawl file a digest was made from, when it sits beside it.

    `DATE_AI_enhanced_<Language>.jsonl` and `DATE.md` both come from `DATE.jsonl`; a candidate whose
    lines carry `AI` objects is itself a digest, not a raw crawl.
    """
    path = Path(path)
    match = ENHANCED_NAME.fullmatch(path.name)
    if match:
        candidate = path.with_name(match.group(1) + ".jsonl")
    elif path.suffix.lower() == ".md":
        candidate = path.with_suffix(".jsonl")
    else:
        return None
    if candidate == path or not candidate.is_file() or _is_enhanced(candidate):
        return None
    return candidate


_LEADING_ID = re.compile(rb'^\{"id": ?"([0-9A-Za-z./_-]+)"[,}]')


def _leading_id(line: bytes) -> str | None:
    """The id of an upstream-shaped line, told without parsing it (None: parse the line): the line
    starts `{"id": "..."` and has no second `"id"` key, which the parser would take instead."""
    match = _LEADING_ID.match(line)
    return match.group(1).decode("ascii") if match is not None and line.count(b'"id"') == 1 else None


def read_raw_ids(path: str | Path) -> list[str]:
    """The paper ids of a raw crawl file in order, first occurrences only.

    A scan needs only the ids: upstream writes `{"id": "...", ...}` lines, read here without parsing
    the whole object; any other line goes through the JSON parser.
    """
    data = read_bytes(Path(path))
    ids: dict[str, None] = {}
    for line in data.split(b"\n"):
        paper_id = _leading_id(line)
        if paper_id is not None:
            ids.setdefault(paper_id, None)
        elif line.strip():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if is_paper(obj):
                ids.setdefault(str(obj["id"]), None)
    if not ids:
        raise InputError(path, "not a raw crawl file: no line is a paper object (a JSON object with an 'id')")
    return list(ids)


def read_raw_objects(path: str | Path, wanted: Collection[str] | None = None) -> list[dict[str, Any]]:
    """The paper objects of a raw crawl file in file order, first occurrences only: what `JsonlDigest.insert`
    takes as `raw`. With `wanted`, those papers only, and only their lines are parsed (a day's crawl is
    ~200 papers, of which a digest dropped a few) besides lines whose id cannot be told unparsed."""
    objects = [obj for _, obj in _raw_papers(Path(path), wanted)]
    return objects if wanted is None else [obj for obj in objects if str(obj["id"]) in wanted]


def _raw_papers(path: Path, wanted: Collection[str] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """(1-based line, object) of each first occurrence of a paper id (of the `wanted` ones, if given).

    Lines that are not paper objects are skipped: a raw file is a source of papers, not something
    we rewrite, and the digest's own diagnostics already cover the papers it holds.
    """
    data = read_bytes(path)
    papers: dict[str, tuple[int, dict[str, Any]]] = {}
    skipped: list[str] = []

    def unwanted(line: bytes) -> bool:
        """A line of a paper not asked for, told by its leading id."""
        paper_id = _leading_id(line) if wanted is not None else None
        if paper_id is None or paper_id in (wanted or ()):
            return False
        skipped.append(paper_id)
        return True

    for index, obj, _problem in iter_objects(data, unwanted):
        if is_paper(obj):
            papers.setdefault(str(obj["id"]), (index + 1, obj))
    if not papers and not skipped:
        raise InputError(path, "not a raw crawl file: no line is a paper object (a JSON object with an 'id')")
    return list(papers.values())
