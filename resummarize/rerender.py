"""A day's markdown digest kept in step with its enhanced JSONL file: which markdown files a JSONL file
renders into (upstream's naming), rendering one again, and the papers a markdown digest lacks.

Upstream renders `DATE.md` from `DATE_AI_enhanced_<L>.jsonl`. A JSONL file that gains papers (restored
with `--restore-missing`) leaves its markdown behind: readers of the markdown never see them, and the
markdown, judged alone, looks clean.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from resummarize.digest import JsonlDigest, load, read_raw_ids
from resummarize.digest.model import Digest
from resummarize.digest.names import ENHANCED_NAME
from resummarize.digest.render import category_order, render_markdown
from resummarize.errors import InputError, UsageError
from resummarize.language import Language, resolve
from resummarize.report import RepairReport
from resummarize.writer import write_atomic


def render_targets(paths: Iterable[Path], preferred: Language | None) -> dict[Path, list[Path]]:
    """The markdown digests each enhanced JSONL file is rendered into, by upstream's naming.

    `DAY_AI_enhanced_L.jsonl` renders into `DAY_AI_enhanced_L.md` and, as upstream's converter names
    it, `DAY.md`; when several languages share a day, `DAY.md` belongs to the preferred language only.
    """
    days: dict[Path, list[tuple[Path, str]]] = {}
    for path in paths:
        match = ENHANCED_NAME.fullmatch(path.name)
        if match:
            days.setdefault(path.with_name(match["day"] + ".md"), []).append((path, match["language"]))
    targets: dict[Path, list[Path]] = {}
    for shared, group in days.items():
        for path, language in group:
            targets[path] = [path.with_suffix(".md")]
            if len(group) == 1 or (preferred is not None and _names(language, preferred)):
                targets[path].append(shared)
    return targets


def _names(value: str, language: Language) -> bool:
    try:
        return resolve(value) == language
    except UsageError:  # a language we do not know cannot be the preferred one
        return False


def rerender(source: Path, target: Path) -> bool:
    """Render the enhanced JSONL file `source` over the markdown digest `target`, when that exists and
    differs (atomically, keeping its category order); True when it was written."""
    if not target.is_file():
        return False
    digest = load(source)
    if not isinstance(digest, JsonlDigest):
        return False
    data = render_markdown(digest, category_order(None, target, os.environ.get("CATEGORIES"))).encode("utf-8")
    if target.read_bytes() == data:
        return False
    write_atomic(target, data)
    return True


def rerender_restored(report: RepairReport, preferred: Language | None) -> list[str]:
    """The markdown digests of every JSONL file written with restored papers, rendered again."""
    written = {Path(path) for path in report.written}
    grown = sorted({Path(e.path) for e in report.entries if e.status == "restored"} & written)
    targets = render_targets(grown, preferred)
    return [str(target) for source in grown for target in targets.get(source, []) if rerender(source, target)]


def markdown_lag(digest: Digest) -> tuple[Path | None, list[str]]:
    """For a markdown digest `DATE.md`: the enhanced JSONL file beside it, and the papers that file holds
    which the markdown lacks (it needs rendering again). Not a markdown digest, no single JSONL file beside
    it, or one that cannot be read: (None, [])."""
    path = digest.path
    if digest.format != "markdown" or path is None or path.suffix != ".md":
        return None, []
    siblings = sorted(path.parent.glob(f"{glob.escape(path.stem)}_AI_enhanced_*.jsonl"))
    if len(siblings) != 1:
        return None, []
    try:
        held = read_raw_ids(siblings[0])
    except InputError:
        return None, []
    shown = {entry.id for entry in digest.entries}
    return siblings[0], [paper_id for paper_id in held if paper_id not in shown]
