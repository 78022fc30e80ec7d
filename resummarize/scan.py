"""Read-only survey of digests: which entries need repair and why, per the `scan --json` contract.

Files are read one at a time and dropped, so memory does not grow with the size of a `data/` folder.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel

from resummarize.detect import EntryVerdict, Placeholders, check_entry, missing_ids, written_in
from resummarize.digest import iter_digest_paths, load_digest, raw_sibling, read_raw_ids
from resummarize.digest.jsonl import printable
from resummarize.errors import InputError
from resummarize.language import Language, from_environment, resolve
from resummarize.model import Digest


class NeedsRepair(BaseModel):
    id: str
    fields: dict[str, str]


class FileScan(BaseModel):
    path: str
    format: str
    entries: int
    language: str = "English"
    #: Where the language came from: flag, name, sibling, environment, content or default.
    language_source: str = "default"
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
        return self.language_choice(digest)[0]

    def language_choice(self, digest: Digest, placeholders: Placeholders | None = None) -> tuple[Language, str]:
        """The digest's language and where it came from: the flag, the language the file name (or the
        JSONL sibling of a markdown digest) declares, `LANGUAGE`, the language most of its good entries
        are written in, and only then English."""
        if self.language:
            return resolve(self.language), "flag"
        if digest.language_hint:
            return resolve(digest.language_hint), "name" if digest.format == "jsonl" else "sibling"
        if (found := from_environment(self.environment_language)) is not None:
            return found, "environment"
        if (found := written_in(digest.entries, placeholders or self.placeholders())) is not None:
            return found, "content"
        return resolve("English"), "default"


class Plan(BaseModel):
    """What one digest needs: verdicts by entry index, and the raw-crawl papers it lacks."""

    verdicts: dict[int, EntryVerdict]
    missing: list[str]
    language: str = "English"
    language_source: str = "default"
    raw_order: list[str] = []
    raw_file: Path | None = None

    def repairable(self, include_refused: bool) -> dict[int, EntryVerdict]:
        return {i: v for i, v in self.verdicts.items() if v.needs_repair or (include_refused and v.refused)}


def plan_digest(digest: Digest, settings: Settings, placeholders: Placeholders | None = None) -> Plan:
    marks = placeholders or settings.placeholders()
    language, source = settings.language_choice(digest, marks)
    verdicts: dict[int, EntryVerdict] = {}
    for index, entry in enumerate(digest.entries):
        verdict = check_entry(entry, language, marks)
        if verdict.needs_repair or verdict.refused:
            verdicts[index] = verdict
    sibling = raw_sibling(digest.path) if digest.path is not None and digest.format == "jsonl" else None
    if sibling is None:
        return Plan(verdicts=verdicts, missing=[], language=language.name, language_source=source)
    order = read_raw_ids(sibling)
    missing = missing_ids((entry.id for entry in digest.entries), order)
    return Plan(verdicts=verdicts, missing=missing, raw_order=order, raw_file=sibling, language=language.name,
                language_source=source)


def check_language(digest: Digest, plan: Plan, settings: Settings, placeholders: Placeholders) -> None:
    """Refuse to rewrite most of a digest into a language nobody named: when more than half of its
    entries would be rewritten as `wrong_language`, the language is probably wrong, not the entries."""
    if settings.language:
        return
    rewritten = sum("wrong_language" in verdict.fields.values() for verdict in plan.verdicts.values())
    if 2 * rewritten <= len(digest.entries):
        return
    found = written_in(digest.entries, placeholders)
    actual = found.name if found is not None else "another language"
    raise InputError(
        digest.path,
        f"{rewritten} of {len(digest.entries)} entries would be rewritten in {plan.language} "
        f"(from {plan.language_source}), but its entries are written in {actual}; "
        "pass --language to repair it in that language anyway",
    )


def summarize_plan(digest: Digest, plan: Plan, settings: Settings) -> FileScan:
    needs = []
    for index, verdict in sorted(plan.verdicts.items()):
        fields = dict(verdict.fields)
        if settings.include_refused and verdict.refused and not fields:
            fields = {key: "refused" for key in digest.entries[index].fields}
        if fields:
            needs.append(NeedsRepair(id=printable(digest.entries[index].id), fields=fields))
    return FileScan(
        path=str(digest.path),
        format=digest.format,
        entries=len(digest.entries),
        language=plan.language,
        language_source=plan.language_source,
        needs_repair=needs,
        refused=[printable(digest.entries[i].id) for i, v in sorted(plan.verdicts.items()) if v.refused],
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


def diagnostic_lines(digest: Digest) -> list[str]:
    """`file:line: problem` for each line of a digest that could not be used: one format for every command."""
    return [f"{digest.path}:{diag.line}: {diag.message}" for diag in digest.diagnostics]


def fails(files: Iterable[FileScan], reasons: Collection[str] | None) -> bool:
    """Whether a scan should fail a check: with `reasons` None, anything to repair or any missing paper;
    otherwise only an entry broken for one of `reasons` (`refused` and `missing` included)."""
    for scan in files:
        if reasons is None:
            if scan.needs_repair or scan.missing:
                return True
            continue
        if any(reason in reasons for item in scan.needs_repair for reason in item.fields.values()):
            return True
        if ("refused" in reasons and scan.refused) or ("missing" in reasons and scan.missing):
            return True
    return False


def totals(files: Iterable[FileScan]) -> Totals:
    total = Totals()
    for scan in files:
        total.entries += scan.entries
        total.needs_repair += len(scan.needs_repair)
        total.refused += len(scan.refused)
        total.missing += len(scan.missing)
    return total
