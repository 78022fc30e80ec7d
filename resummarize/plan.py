"""Inputs -> verdicts -> jobs: what each digest needs (the read-only scan) and what to ask the model.

Files are read one at a time and dropped, both while scanning and while planning a repair, so memory
does not grow with the size of a `data/` folder: a repair keeps the jobs (the questions and where their
answers go), never the digests, and reads a file again only to write it. Every input is planned before
the first request, so a bad input still stops the run before any request is made.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from resummarize import grounding
from resummarize.config import RepairOptions, Settings, Strategy
from resummarize.detect import EntryVerdict, Placeholders, check_entry, missing_ids, plainly_clean, written_in
from resummarize.digest import iter_digest_paths, load_digest, raw_sibling, read_raw_ids, read_raw_objects
from resummarize.digest.jsonl import entry_from, field_keys, printable
from resummarize.digest.model import FIELDS, Digest, Entry, canonical
from resummarize.errors import InputError, UsageError
from resummarize.journal import AnswerKey
from resummarize.language import Language, resolve
from resummarize.provider.request import Outcome, SummaryRequest
from resummarize.report import EntryResult, FileScan, NeedsRepair, RepairReport, ScanReport, Totals, totals
from resummarize.rerender import markdown_lag

if TYPE_CHECKING:
    from resummarize.provider.prompts import PromptSet

__all__ = ["FileScan", "Job", "Plan", "PlannedFile", "Run", "ScanReport", "Totals", "prepare", "scan", "scan_paths"]


class Plan(BaseModel):
    """What one digest needs: verdicts by entry index, and the raw-crawl papers it lacks."""

    verdicts: dict[int, EntryVerdict]
    missing: list[str]
    language: str = "English"
    language_source: str = "default"
    raw_order: list[str] = []
    raw_file: Path | None = None
    #: Why the raw crawl beside the digest cannot be read: it matters only when papers are restored.
    raw_problem: str | None = None

    def repairable(self, settings: Settings) -> dict[int, EntryVerdict]:
        """The entries to ask about: broken ones, and refused or mismatched ones when the settings say so."""
        return {i: v for i, v in self.verdicts.items() if v.needs_repair or (settings.include_refused and v.refused)
                or (settings.include_mismatched and v.mismatched)}


def plan_digest(digest: Digest, settings: Settings, placeholders: Placeholders | None = None) -> Plan:
    marks = placeholders or settings.placeholders()
    language, source = settings.language_choice(digest, marks)
    verdicts: dict[int, EntryVerdict] = {}
    for index, clean in enumerate(plainly_clean(digest.entries, language, marks)):
        if clean:
            continue
        verdict = check_entry(digest.entries[index], language, marks)
        if verdict.needs_repair or verdict.refused:
            verdicts[index] = verdict
    verdicts.update(mismatched(digest, verdicts))
    sibling = raw_sibling(digest.path) if digest.path is not None and digest.format == "jsonl" else None
    if sibling is None:
        return Plan(verdicts=verdicts, missing=[], language=language.name, language_source=source)
    try:
        order = read_raw_ids(sibling)
    except InputError as exc:
        return Plan(verdicts=verdicts, missing=[], language=language.name, language_source=source,
                    raw_file=sibling, raw_problem=exc.message)
    missing = missing_ids((entry.id for entry in digest.entries), order)
    return Plan(verdicts=verdicts, missing=missing, raw_order=order, raw_file=sibling, language=language.name,
                language_source=source)


def mismatched(digest: Digest, verdicts: dict[int, EntryVerdict]) -> dict[int, EntryVerdict]:
    """Entries with no other problem whose summary seems to belong to another entry: listed apart, and
    rewritten whole only when asked (`--include mismatched`)."""
    entries = digest.entries
    texts = [None if i in verdicts else " ".join(e.fields.values()) for i, e in enumerate(entries)]
    shifts = grounding.shifted(texts, [f"{e.title} {e.abstract}" for e in entries])
    return {s.index: EntryVerdict.model_construct(fields={}, refused=False, mismatched=True) for s in shifts}


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


# --- the read-only scan -------------------------------------------------------------------------------


def summarize_plan(digest: Digest, plan: Plan, settings: Settings) -> FileScan:
    needs = []
    for index, verdict in sorted(plan.verdicts.items()):
        fields = dict(verdict.fields)
        if settings.include_refused and verdict.refused and not fields:
            fields = {key: "refused" for key in digest.entries[index].fields}
        if settings.include_mismatched and verdict.mismatched:
            fields = {key: "mismatched" for key in digest.entries[index].fields if canonical(key) in FIELDS}
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
        mismatched=[printable(digest.entries[i].id) for i, v in sorted(plan.verdicts.items()) if v.mismatched],
        unrendered=markdown_lag(digest)[1],
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
    with collector_paused():  # for the whole walk: a digest the caller still holds is not traversed
        for path in iter_digest_paths(paths):
            yield scan_file(path, settings, placeholders)


def scan(paths: Iterable[Path | str], settings: Settings | None = None) -> ScanReport:
    """The `scan --json` object for `paths`: what needs repair in each digest, and why."""
    files = [scan for _, scan in scan_paths([Path(p) for p in paths], settings or Settings())]
    return ScanReport(files=files, totals=totals(files))


def diagnostic_lines(digest: Digest) -> list[str]:
    """`file:line: problem` for each line of a digest that could not be used: one format for every command."""
    return [f"{digest.path}:{diag.line}: {diag.message}" if diag.line else f"{digest.path}: {diag.message}"
            for diag in digest.diagnostics]


def fails(files: Iterable[FileScan], reasons: Collection[str] | None) -> bool:
    """Whether a scan should fail a check: with `reasons` None, anything to repair; otherwise only an
    entry broken for one of `reasons` (`refused` and `missing` included). Missing papers count only when
    named: a pipeline drops papers on purpose (its content check, a fork's relevance filter), so a day
    whose only finding is a dropped paper is not a failure."""
    for item in files:
        if reasons is None:
            if item.needs_repair:
                return True
            continue
        if any(reason in reasons for need in item.needs_repair for reason in need.fields.values()):
            return True
        if ("refused" in reasons and item.refused) or ("missing" in reasons and item.missing) or (
                "mismatched" in reasons and item.mismatched):
            return True
    return False


# --- the jobs of a repair -----------------------------------------------------------------------------


@dataclass
class PlannedFile:
    """A digest as the plan saw it, without its entries: where it is, which bytes were planned (so a
    file changed meanwhile is never written over), and the lines that could not be used."""

    path: Path
    index: int
    entries: int
    diagnostics: list[str] = field(default_factory=list)
    #: Jobs that will be asked (counted by the first pass).
    work: int = 0


@dataclass
class Job:
    """One paper to ask about; `apply` names the file keys its answer will replace."""

    file: PlannedFile
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
    #: Why it is asked: the reasons of its broken fields, `refused`, or `missing` for a restored paper.
    reasons: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return str(self.file.path)

    def written(self, attempts: int, note: str | None = None) -> EntryResult:
        """Its answer was applied: a dropped paper put back is `restored`, any other entry `repaired`."""
        return EntryResult.written(self.entry.id, self.path, restored=self.index is None, attempts=attempts,
                                   reasons=self.reasons, note=note)


@dataclass
class Run:
    """Every input planned (its digest already let go), the jobs, and the report the run fills in."""

    files: list[PlannedFile]
    report: RepairReport = field(default_factory=RepairReport)


def prepare(
    paths: Sequence[Path], options: RepairOptions, prompts: PromptSet,
    on_file: Callable[[PlannedFile], None] | None = None,
    on_jobs: Callable[[list[Job]], None] | None = None,
) -> Run:
    """The first pass: plan every input, one file at a time, and let each go; any bad input raises here,
    before a request is made. Only counts are kept (the run re-reads a file with work when it gets to
    it); `on_jobs` sees each file's askable jobs (the dry-run estimate), `on_file` each file planned."""
    names = list(iter_digest_paths(paths))
    if options.out is not None and len(names) != 1:
        raise UsageError("--out takes a single input file")
    placeholders = options.settings.placeholders()
    run = Run(files=[])
    for index, path in enumerate(names):
        with collector_paused():
            digest = load_digest(path)
            planned = PlannedFile(path=path, index=index, entries=len(digest.entries))
            jobs = _jobs_for(digest, planned, options, prompts, placeholders)
            planned.diagnostics = diagnostic_lines(digest)  # after planning: it may note the file's name
            del digest
            askable = _askable(jobs, run.report)
        planned.work = len(askable)
        run.report.totals.needs_repair += len(jobs)
        run.files.append(planned)
        if on_jobs is not None:
            on_jobs(askable)
        if on_file is not None:
            on_file(planned)
    return run


def replan(planned: PlannedFile, options: RepairOptions, prompts: PromptSet) -> tuple[Digest, list[Job]]:
    """A file with work, read again when the run gets to it: its digest and askable jobs, planned on
    what it holds now (a pipeline may have appended to it since the first pass)."""
    with collector_paused():
        digest = load_digest(planned.path)
        jobs = _jobs_for(digest, planned, options, prompts, options.settings.placeholders())
    return digest, [job for job in jobs if unaskable(job) is None]


def _askable(jobs: list[Job], report: RepairReport) -> list[Job]:
    """The jobs that can be asked; each of the others fails alone in the report, naming why."""
    kept = []
    for job in jobs:
        problem = unaskable(job)
        if problem is None:
            kept.append(job)
        else:
            report.record(EntryResult(id=printable(job.entry.id), path=job.path, status="failed",
                                      attempts=0, error=problem))
    return kept


def unaskable(job: Job) -> str | None:
    """Why an entry cannot be asked about at all (it fails alone, naming its file and line), or None."""
    if not job.entry.abstract.strip():  # nothing to summarise from: never let a model invent one
        return "no abstract to summarise from"
    entry = job.entry
    for name, text in (("id", entry.id), ("title", entry.title), ("abstract", entry.abstract),
                       ("authors", " ".join(entry.authors)), ("categories", " ".join(entry.categories))):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = f"{job.path}:{entry.line}" if entry.line else job.path
            return (f"{where}: the {name} holds a lone surrogate (U+{ord(text[exc.start]):04X}), not valid "
                    "Unicode: fix the input")
    return None


def _jobs_for(
    digest: Digest, planned: PlannedFile, options: RepairOptions, prompts: PromptSet, marks: Placeholders
) -> list[Job]:
    plan = plan_digest(digest, options.settings, marks)
    check_language(digest, plan, options.settings, marks)
    language = resolve(plan.language)
    file_keys = field_keys(digest.entries)
    jobs = []
    for index, verdict in sorted(plan.repairable(options.settings).items()):
        entry = digest.entries[index]
        strategy = _strategy(verdict, options.strategy)
        ask = _own_keys(entry, file_keys)
        broken = {canonical(key) for key in verdict.fields}
        whole = verdict.whole_entry or verdict.refused or verdict.mismatched
        keys = ask if whole else tuple(k for k in ask if canonical(k) in broken)
        existing = {k: entry.fields[k] for k in ask if k in entry.fields} if strategy == "translate" else None
        jobs.append(_job(planned, index, entry, language, strategy, existing, keys, options, prompts, ask=ask))
        jobs[-1].reasons = tuple(sorted(set(verdict.fields.values()))) or ("refused",)
    if options.restore_missing and plan.raw_problem is not None:
        raise InputError(plan.raw_file, f"cannot restore missing papers: {plan.raw_problem}")
    if options.restore_missing and plan.missing and plan.raw_file is not None:
        jobs += _restore_jobs(digest, planned, plan, language, options, prompts)
    return jobs


def _own_keys(entry: Entry, file_keys: tuple[str, ...]) -> tuple[str, ...]:
    """The five keys to ask for, in the file's order: the entry's own spelling where it has the field,
    the file's otherwise. Keys outside the five (an extra key) are never asked for nor touched."""
    own = {canonical(key): key for key in entry.fields}
    return tuple(own.get(canonical(key), key) for key in file_keys)


def _restore_jobs(
    digest: Digest, planned: PlannedFile, plan: Plan, language: Language, options: RepairOptions,
    prompts: PromptSet,
) -> list[Job]:
    """Jobs for the papers of the raw crawl that the enhanced file dropped."""
    assert plan.raw_file is not None
    keys = tuple(digest.entries[0].fields) if digest.entries else FIELDS
    wanted = set(plan.missing)
    objects = {str(obj["id"]): obj for obj in read_raw_objects(plan.raw_file, wanted)}
    place = {paper_id: i for i, paper_id in enumerate(plan.raw_order)}
    jobs = []
    for paper_id in plan.missing:
        entry, _ = entry_from(objects[paper_id], 0, enhanced=False)
        entry = entry.model_copy(update={"fields": dict.fromkeys(keys, "")})
        job = _job(planned, None, entry, language, "regenerate", None, keys, options, prompts)
        job.raw, job.raw_order, job.raw_index = objects[paper_id], plan.raw_order, place[paper_id]
        job.reasons = ("missing",)
        jobs.append(job)
    return jobs


def _strategy(verdict: EntryVerdict, wanted: Strategy) -> Strategy:
    """Translation only makes sense when the entry holds real content in another language."""
    if wanted == "translate" and verdict.fields and set(verdict.fields.values()) == {"wrong_language"}:
        return "translate"
    return "regenerate"


def _job(
    planned: PlannedFile, index: int | None, entry: Entry, language: Language, strategy: Strategy,
    existing: dict[str, str] | None, keys: tuple[str, ...], options: RepairOptions, prompts: PromptSet,
    ask: tuple[str, ...] = (),
) -> Job:
    request = SummaryRequest(
        paper_id=entry.id, title=entry.title, abstract=entry.abstract, language=language,
        keys=ask or tuple(entry.fields) or keys, strategy=strategy, existing=existing,
    )
    key = AnswerKey(
        paper_id=entry.id, title=entry.title, abstract=entry.abstract, language=language.name,
        model=options.model, prompt_version=prompts.version, strategy=strategy, answer_keys=request.keys,
    )
    return Job(file=planned, index=index, entry=entry, request=request, key=key, apply=keys)


def questions(jobs: Iterable[Job]) -> list[list[Job]]:
    """Jobs grouped by the question they ask: a paper listed twice (in one file or two) is asked once."""
    groups: dict[str, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.key.digest(), []).append(job)
    return list(groups.values())
