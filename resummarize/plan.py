"""Inputs -> verdicts -> jobs: what each digest needs (the read-only scan) and what to ask the model.

Files are read one at a time and dropped while scanning, so memory does not grow with the size of a
`data/` folder. A repair plans every input before the first request: a bad input stops the run early.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from resummarize.config import RepairOptions, Settings, Strategy
from resummarize.detect import EntryVerdict, Placeholders, check_entry, missing_ids
from resummarize.digest import iter_digest_paths, load_digest, raw_sibling, read_raw_ids, read_raw_objects
from resummarize.digest.jsonl import entry_from
from resummarize.digest.model import FIELDS, Digest, Entry
from resummarize.errors import UsageError
from resummarize.journal import AnswerKey, Journal
from resummarize.language import Language
from resummarize.provider.request import Outcome, SummaryRequest
from resummarize.report import EntryResult, FileScan, NeedsRepair, RepairReport, ScanReport, Totals

if TYPE_CHECKING:
    from resummarize.provider.prompts import PromptSet

__all__ = ["FileScan", "Job", "Plan", "Run", "ScanReport", "Totals", "prepare", "scan", "scan_paths"]


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
    sibling = raw_sibling(digest.path) if digest.path is not None and digest.format == "jsonl" else None
    if sibling is None:
        return Plan(verdicts=verdicts, missing=[])
    order = read_raw_ids(sibling)
    missing = missing_ids((entry.id for entry in digest.entries), order)
    return Plan(verdicts=verdicts, missing=missing, raw_order=order, raw_file=sibling)


# --- the read-only scan -------------------------------------------------------------------------------


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


def scan_paths(paths: Iterable[Path], settings: Settings) -> Iterator[tuple[Digest, FileScan]]:
    """Scan each digest under `paths` in turn (folders are walked; one holding no digest is an error)."""
    placeholders = settings.placeholders()
    for path in iter_digest_paths(paths):
        yield scan_file(path, settings, placeholders)


def scan(paths: Iterable[Path | str], settings: Settings | None = None) -> ScanReport:
    """The `scan --json` object for `paths`: what needs repair in each digest, and why."""
    files = [scan for _, scan in scan_paths([Path(p) for p in paths], settings or Settings())]
    return ScanReport(files=files, totals=totals(files))


def totals(files: Iterable[FileScan]) -> Totals:
    total = Totals()
    for item in files:
        total.entries += item.entries
        total.needs_repair += len(item.needs_repair)
        total.refused += len(item.refused)
        total.missing += len(item.missing)
    return total


# --- the jobs of a repair -----------------------------------------------------------------------------


@dataclass
class Job:
    """One paper to ask about; `apply` names the file keys its answer will replace."""

    digest: Digest
    index: int | None  # None: a missing paper to insert
    entry: Entry
    request: SummaryRequest
    key: AnswerKey
    apply: tuple[str, ...]
    # A missing paper: its raw-crawl object, and the raw file's id order with its place in it.
    raw: dict[str, Any] | None = None
    raw_order: Sequence[str] = ()
    raw_index: int = 0
    outcome: Outcome | None = None

    @property
    def path(self) -> str:
        return str(self.digest.path)


@dataclass
class Run:
    """Every input loaded, the jobs planned for them, and the report the run fills in."""

    digests: list[Digest]
    jobs: list[Job]
    report: RepairReport = field(default_factory=RepairReport)


def prepare(paths: Sequence[Path], options: RepairOptions, prompts: PromptSet) -> Run:
    """Load every input and plan the work; any bad input raises before a request is made."""
    files = list(iter_digest_paths(paths))
    if options.out is not None and len(files) != 1:
        raise UsageError("--out takes a single input file")
    placeholders = options.settings.placeholders()
    digests, jobs = [], []
    for path in files:
        digest = load_digest(path)
        digests.append(digest)
        jobs += _jobs_for(digest, options, prompts, placeholders)
    run = Run(digests=digests, jobs=[job for job in jobs if job.entry.abstract.strip()])
    run.report.totals.needs_repair = len(jobs)
    for job in jobs:
        if not job.entry.abstract.strip():  # nothing to summarise from: never let a model invent one
            run.report.record(EntryResult(id=job.entry.id, path=job.path, status="failed", attempts=0,
                                          error="no abstract to summarise from"))
    return run


def _jobs_for(digest: Digest, options: RepairOptions, prompts: PromptSet, marks: Placeholders) -> list[Job]:
    plan = plan_digest(digest, options.settings, marks)
    language = options.settings.language_for(digest)
    jobs = []
    for index, verdict in sorted(plan.repairable(options.settings.include_refused).items()):
        entry = digest.entries[index]
        strategy = _strategy(verdict, options.strategy)
        keys = tuple(entry.fields) if verdict.whole_entry or verdict.refused else tuple(verdict.fields)
        existing = dict(entry.fields) if strategy == "translate" else None
        jobs.append(_job(digest, index, entry, language, strategy, existing, keys, options, prompts))
    if options.restore_missing and plan.missing and plan.raw_file is not None:
        jobs += _restore_jobs(digest, plan, language, options, prompts)
    return jobs


def _restore_jobs(
    digest: Digest, plan: Plan, language: Language, options: RepairOptions, prompts: PromptSet
) -> list[Job]:
    """Jobs for the papers of the raw crawl that the enhanced file dropped."""
    assert plan.raw_file is not None
    keys = tuple(digest.entries[0].fields) if digest.entries else FIELDS
    objects = {str(obj["id"]): obj for obj in read_raw_objects(plan.raw_file)}
    place = {paper_id: i for i, paper_id in enumerate(plan.raw_order)}
    jobs = []
    for paper_id in plan.missing:
        entry, _ = entry_from(objects[paper_id], 0, enhanced=False)
        entry = entry.model_copy(update={"fields": dict.fromkeys(keys, "")})
        job = _job(digest, None, entry, language, "regenerate", None, keys, options, prompts)
        job.raw, job.raw_order, job.raw_index = objects[paper_id], plan.raw_order, place[paper_id]
        jobs.append(job)
    return jobs


def _strategy(verdict: EntryVerdict, wanted: Strategy) -> Strategy:
    """Translation only makes sense when the entry holds real content in another language."""
    if wanted == "translate" and verdict.fields and set(verdict.fields.values()) == {"wrong_language"}:
        return "translate"
    return "regenerate"


def _job(
    digest: Digest, index: int | None, entry: Entry, language: Language, strategy: Strategy,
    existing: dict[str, str] | None, keys: tuple[str, ...], options: RepairOptions, prompts: PromptSet,
) -> Job:
    request = SummaryRequest(
        paper_id=entry.id, title=entry.title, abstract=entry.abstract, language=language,
        keys=tuple(entry.fields) or keys, strategy=strategy, existing=existing,
    )
    key = AnswerKey(
        paper_id=entry.id, title=entry.title, abstract=entry.abstract, language=language.name,
        model=options.model, prompt_version=prompts.version, strategy=strategy, answer_keys=request.keys,
    )
    return Job(digest=digest, index=index, entry=entry, request=request, key=key, apply=keys)


def questions(jobs: Iterable[Job]) -> list[list[Job]]:
    """Jobs grouped by the question they ask: a paper listed twice (in one file or two) is asked once."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.key.digest(), []).append(job)
    return list(groups.values())


def estimate(run: Run, journal: Journal, prompts: PromptSet) -> None:
    """The dry run: how many answers the journal holds, and what asking for the rest would take."""
    unanswered = [group for group in questions(run.jobs) if journal.get(group[0].key) is None]
    run.report.cached = len(run.jobs) - sum(len(group) for group in unanswered)
    run.report.estimated_requests = len(unanswered)
    run.report.estimated_prompt_tokens = estimate_prompt_tokens([group[0] for group in unanswered], prompts)


def estimate_prompt_tokens(jobs: Sequence[Job], prompts: PromptSet) -> int:
    """About four characters a token: good enough to tell a user what a run will cost."""
    chars = 0
    for job in jobs:
        r = job.request
        messages = prompts.render(r.strategy, paper_id=r.paper_id, title=r.title, abstract=r.abstract,
                                  language=r.language, existing=r.existing, schema_hint=None, keys=r.keys)
        chars += sum(len(str(m["content"])) for m in messages)
    return chars // 4
