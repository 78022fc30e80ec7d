"""Read-only survey of digests: which entries need repair and why, per the `scan --json` contract.

Files are read one at a time and dropped, so memory does not grow with the size of a `data/` folder.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from resummarize import grounding
from resummarize.detect import EntryVerdict, Placeholders, check_entry, missing_ids
from resummarize.digest import iter_digest_paths, load_digest, raw_sibling, read_raw_ids
from resummarize.errors import InputError
from resummarize.language import Language, from_environment, resolve
from resummarize.model import FIELDS, Digest, canonical


class NeedsRepair(BaseModel):
    id: str
    fields: dict[str, str]


class FileScan(BaseModel):
    path: str
    format: str
    entries: int
    needs_repair: list[NeedsRepair]
    refused: list[str]
    missing: list[str]


class Totals(BaseModel):
    entries: int = 0
    needs_repair: int = 0
    refused: int = 0
    missing: int = 0


class ScanReport(BaseModel):
    files: list[FileScan]
    totals: Totals


class Settings(BaseModel):
    """How to judge a digest: which language it should be in and what else counts as broken."""

    language: str | None = None
    environment_language: str | None = None
    extra_placeholders: list[str] = []
    include_refused: bool = False

    def placeholders(self) -> Placeholders:
        return Placeholders(self.extra_placeholders)

    def language_for(self, digest: Digest) -> Language:
        """The flag wins, then the language the file name declares, then `LANGUAGE`, then English."""
        if self.language:
            return resolve(self.language)
        if digest.language_hint:
            return resolve(digest.language_hint)
        return from_environment(self.environment_language) or resolve("English")


class Plan(BaseModel):
    """What one digest needs: verdicts by entry index, and the raw-crawl papers it lacks."""

    verdicts: dict[int, EntryVerdict]
    missing: list[str]
    raw_order: list[str] = []
    raw_file: Path | None = None

    def repairable(self, include_refused: bool) -> dict[int, EntryVerdict]:
        return {i: v for i, v in self.verdicts.items() if v.needs_repair or (include_refused and v.refused)}


def plan_digest(digest: Digest, settings: Settings, placeholders: Placeholders | None = None) -> Plan:
    language = settings.language_for(digest)
    marks = placeholders or settings.placeholders()
    verdicts: dict[int, EntryVerdict] = {}
    for index, entry in enumerate(digest.entries):
        verdict = check_entry(entry, language, marks)
        if verdict.needs_repair or verdict.refused:
            verdicts[index] = verdict
    for index, verdict in mismatched(digest, verdicts).items():
        verdicts[index] = verdict
    sibling = raw_sibling(digest.path) if digest.path is not None and digest.format == "jsonl" else None
    if sibling is None:
        return Plan(verdicts=verdicts, missing=[])
    order = read_raw_ids(sibling)
    missing = missing_ids((entry.id for entry in digest.entries), order)
    return Plan(verdicts=verdicts, missing=missing, raw_order=order, raw_file=sibling)


def mismatched(digest: Digest, verdicts: dict[int, EntryVerdict]) -> dict[int, EntryVerdict]:
    """Entries with no other problem whose summary belongs to another entry: rewritten whole."""
    entries = digest.entries
    texts = [None if i in verdicts else " ".join(e.fields.values()) for i, e in enumerate(entries)]
    shifts = grounding.shifted(texts, [f"{e.title} {e.abstract}" for e in entries])
    return {s.index: EntryVerdict.model_construct(fields=dict.fromkeys(
        (k for k in entries[s.index].fields if canonical(k) in FIELDS), "mismatched"), refused=False)
        for s in shifts}


def summarize_plan(digest: Digest, plan: Plan, settings: Settings) -> FileScan:
    needs = []
    for index, verdict in sorted(plan.verdicts.items()):
        fields = dict(verdict.fields)
        if settings.include_refused and verdict.refused and not fields:
            fields = {key: "refused" for key in digest.entries[index].fields}
        if fields:
            needs.append(NeedsRepair(id=digest.entries[index].id, fields=fields))
    return FileScan(
        path=str(digest.path),
        format=digest.format,
        entries=len(digest.entries),
        needs_repair=needs,
        refused=[digest.entries[i].id for i, v in sorted(plan.verdicts.items()) if v.refused],
        missing=list(plan.missing),
    )


@contextmanager
def collector_paused() -> Iterator[None]:
    """Parsing a digest allocates thousands of small acyclic objects; without this pause the cycle
    collector walks the growing heap again and again (a third of the scan time on a large folder)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def scan_file(path: Path, settings: Settings, placeholders: Placeholders | None = None) -> tuple[Digest, FileScan]:
    with collector_paused():
        digest = load_digest(path)
        plan = plan_digest(digest, settings, placeholders)
        return digest, summarize_plan(digest, plan, settings)


def digest_paths(paths: Iterable[Path]) -> Iterator[Path]:
    """The digests under `paths`, each once; a folder holding none is an input error, so that a
    mistyped or wrong data folder is reported instead of passing as "nothing to repair"."""
    seen: set[Path] = set()
    for given in paths:
        found = list(iter_digest_paths([given]))
        if not found:
            raise InputError(given, "no digests found under this folder (no *.md digest or enhanced JSONL file)")
        for path in found:
            if path not in seen:
                seen.add(path)
                yield path


def scan_paths(paths: Iterable[Path], settings: Settings) -> Iterator[tuple[Digest, FileScan]]:
    """Scan each digest under `paths` in turn (folders are walked)."""
    placeholders = settings.placeholders()
    for path in digest_paths(paths):
        yield scan_file(path, settings, placeholders)


def totals(files: Iterable[FileScan]) -> Totals:
    total = Totals()
    for scan in files:
        total.entries += scan.entries
        total.needs_repair += len(scan.needs_repair)
        total.refused += len(scan.refused)
        total.missing += len(scan.missing)
    return total
