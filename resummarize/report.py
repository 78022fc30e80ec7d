"""What a run did: the `repair --report` contract, what requests cost (`Usage`), and both closing tables
(the scan's per-file table and the repair's totals).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from resummarize.cost import CostEstimate, Share, dollars

#: Why a paper of the raw crawl may be absent from its enhanced file: usually a decision, not damage.
MISSING_WHY = (
    "such papers are usually left out on purpose: upstream's "
    "enhance.py drops a paper when its content check calls the abstract or a summary sensitive, or when "
    "that check fails, and forks drop papers they rate irrelevant"
)
#: What `--restore-missing` bypasses, said wherever it is offered.
RESTORE_BYPASSES = (
    "restoring them bypasses that filter: each is summarised and published although the pipeline chose "
    "to hide it, unless --content-check puts it through the pipeline's own check"
)


class NeedsRepair(BaseModel):
    id: str
    fields: dict[str, str]


class FileScan(BaseModel):
    """One file of the `scan --json` contract."""

    path: str
    format: str
    entries: int
    language: str = "English"
    #: Where the language came from: flag, name, sibling, environment, content or default.
    language_source: str = "default"
    needs_repair: list[NeedsRepair]
    refused: list[str]
    missing: list[str]
    #: Entries whose summary seems to belong to another entry: listed apart, repaired only when asked.
    mismatched: list[str] = []
    #: A markdown digest `DATE.md`: papers of the enhanced JSONL file beside it that it does not show (it
    #: needs rendering again, e.g. after papers were restored into the JSONL).
    unrendered: list[str] = Field(default_factory=list)


class Totals(BaseModel):
    entries: int = 0
    needs_repair: int = 0
    refused: int = 0
    missing: int = 0
    mismatched: int = 0


class ScanReport(BaseModel):
    """The `scan --json` contract."""

    files: list[FileScan]
    totals: Totals


def totals(files: Sequence[FileScan]) -> Totals:
    """Entries add up file by file; what needs repair, is refused, missing or mismatched counts papers: one
    broken in a day's JSONL and in its markdown digest is one paper to repair (the per-file lists keep both)."""
    from resummarize.digest.names import day_of  # here: the digest package imports errors, which imports us

    papers: dict[str, set[tuple[tuple[str, str], str]]] = {
        name: set() for name in ("needs_repair", "refused", "missing", "mismatched")}
    for item in files:
        day = day_of(item.path)
        papers["needs_repair"].update((day, entry.id) for entry in item.needs_repair)
        papers["refused"].update((day, paper_id) for paper_id in item.refused)
        papers["missing"].update((day, paper_id) for paper_id in item.missing)
        papers["mismatched"].update((day, paper_id) for paper_id in item.mismatched)
    return Totals(entries=sum(item.entries for item in files), **{k: len(ids) for k, ids in papers.items()})


@dataclass(frozen=True)
class Usage:
    """What talking to the provider cost: requests sent and the tokens they used; `+` adds two up."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.requests + other.requests, self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens)


#: What became of an entry: its fields repaired, a dropped paper restored, or failed; a dry run lists the
#: entries it would ask for (`planned`) and those the journal answers (`in_journal`).
Status = Literal["repaired", "restored", "failed", "removed", "blocked", "planned", "in_journal"]
WRITTEN: frozenset[str] = frozenset({"repaired", "restored"})


class EntryResult(BaseModel):
    id: str
    path: str
    #: `removed`: another writer took the entry out of the file meanwhile; it is not brought back.
    status: Status
    #: Requests sent for this entry (retries, re-asks and refused modes included); 0: journal or not asked.
    attempts: int
    error: str | None = None
    #: Something the run did to the entry's input that its reader should know (an abstract cut short).
    note: str | None = Field(default=None, exclude_if=lambda value: value is None)
    #: Why the entry was asked about (its fields' reasons, `refused`, or `missing`); empty when unknown.
    reasons: list[str] = Field(default_factory=list)

    @classmethod
    def written(cls, paper_id: str, path: str, *, restored: bool, attempts: int, reasons: Sequence[str],
                note: str | None = None) -> EntryResult:
        """An answered entry: a dropped paper put back is `restored`, any other `repaired`."""
        return cls(id=paper_id, path=path, status="restored" if restored else "repaired", attempts=attempts,
                   reasons=list(reasons), note=note)


class ReportTotals(BaseModel):
    needs_repair: int = 0
    #: Entries written: repaired ones and restored papers alike; `restored` counts the latter apart.
    repaired: int = 0
    restored: int = 0
    failed: int = 0
    removed: int = 0
    #: Entries the pipeline's content check stopped (sensitive, or the check failing): nothing written.
    blocked: int = 0
    #: Live requests sent; Batch API lines are counted apart (`batch_lines`, of which `batch_errors` were
    #: in the batch's error file), and the tokens of both add up in the token counts.
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    batch_lines: int = 0
    batch_errors: int = 0
    #: Dollars the requests cost at `rates` (None for a model without a known price).
    cost_usd: float | None = None
    rates: str = ""

    #: The part of the tokens that went through the Batch API (billed at its discount).
    batch: Usage = Field(default_factory=Usage, exclude=True)

    def add(self, usage: Usage, *, batch: bool = False) -> None:
        self.requests += usage.requests
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if batch:
            self.batch += usage


class RepairReport(BaseModel):
    """The contract object; `wall_time`, `cached` and `written` are for the table, not the JSON file."""

    totals: ReportTotals = Field(default_factory=ReportTotals)
    entries: list[EntryResult] = Field(default_factory=list)
    wall_time: float = Field(default=0.0, exclude=True)
    cached: int = Field(default=0, exclude=True)
    written: list[str] = Field(default_factory=list, exclude=True)
    #: Markdown digests rendered again from a JSONL file that gained restored papers.
    rendered: list[str] = Field(default_factory=list, exclude=True)
    #: Files another program changed during the repair: the answers went onto what it wrote, kept whole.
    merged: list[str] = Field(default_factory=list, exclude=True)
    estimated_requests: int = Field(default=0, exclude=True)
    estimated_prompt_tokens: int = Field(default=0, exclude=True)
    #: A line the closing table adds below its rows (the cost estimate of a dry run).
    note: str = Field(default="", exclude=True)
    #: A dry run's estimate (tokens, dollars live and with the Batch API); only dry runs carry it.
    estimate: CostEstimate | None = None

    def record(self, result: EntryResult) -> None:
        self.entries.append(result)
        if result.status in WRITTEN:
            self.totals.repaired += 1
            self.totals.restored += result.status == "restored"
        elif result.status == "failed":
            self.totals.failed += 1
        elif result.status == "blocked":
            self.totals.blocked += 1

    def revoke(self, paper_id: str, path: str, error: str, status: Literal["failed", "removed"] = "failed") -> None:
        """An answer that could not be applied after all: its entry changed on disk (failed), or another
        writer removed it (removed); never repaired."""
        for index, entry in enumerate(self.entries):
            if (entry.id, entry.path) == (paper_id, path) and entry.status in WRITTEN:
                self.entries[index] = entry.model_copy(update={"status": status, "error": error})
                self.totals.repaired -= 1
                self.totals.restored -= entry.status == "restored"
                if status == "removed":
                    self.totals.removed += 1
                else:
                    self.totals.failed += 1
                return

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude={"estimate"} if self.estimate is None else None) + "\n"


def table(report: RepairReport, *, dry_run: bool = False) -> str:
    """A short closing table for humans (stderr)."""
    t = report.totals
    rows = [("needs repair", str(t.needs_repair))]
    if dry_run:
        rows.append(("answers in journal", str(report.cached)))
        rows.append(("requests to make", str(report.estimated_requests)))
        rows.append(("estimated prompt tokens", f"{report.estimated_prompt_tokens:,}"))
        if report.estimate is not None:
            e = report.estimate
            rows.append(("estimated completion tokens", f"{e.completion_tokens:,}"))
            rows.append(("estimated cost, live", "unknown" if e.live_usd is None else dollars(e.live_usd)))
            rows.append(("estimated cost, --batch", "unknown" if e.batch_usd is None else dollars(e.batch_usd)))
            rows.append(("priced as", e.rates))  # says how to give an unknown model its price
    else:
        restored = f"{t.restored} restored, " if t.restored else ""
        rows += [
            ("repaired", f"{t.repaired} ({restored}{report.cached} from journal)"),
            ("failed", str(t.failed)),
            *([("removed meanwhile", str(t.removed))] if t.removed else []),
            *([("blocked by the content check", str(t.blocked))] if t.blocked else []),
            *([("left for the next run", str(left))]
              if (left := t.needs_repair - t.repaired - t.failed - t.removed - t.blocked) > 0 else []),
            *([("batch lines", f"{t.batch_lines} ({t.batch_errors} in the error file)")] if t.batch_lines else []),
            ("live requests" if t.batch_lines else "requests", str(t.requests)),
            ("prompt tokens", f"{t.prompt_tokens:,}"),
            ("completion tokens", f"{t.completion_tokens:,}"),
            ("cost", (dollars(t.cost_usd) + f" ({t.rates})") if t.cost_usd is not None else t.rates),
            ("files written", str(len(report.written))),
            *([("of which changed meanwhile", f"{len(report.merged)} (the other writer's changes kept)")]
              if report.merged else []),
            ("wall time", f"{report.wall_time:.1f} s"),
        ]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name:<{width}}  {value}" for name, value in rows]
    if dry_run and report.estimate is not None:
        lines += _shares("by reason", report.estimate.by_reason, 0)
        lines += _shares("by file (most requests first)", report.estimate.by_file, FILES_SHOWN)
    return "\n".join([*lines, f"  {report.note}"] if report.note else lines)


#: The dry run's table names this many files (the JSON lists them all).
FILES_SHOWN = 10


def _shares(title: str, shares: dict[str, Share], limit: int) -> list[str]:
    """A dry run's breakdown: entries, requests and live cost of each reason or file, largest first."""
    ranked = sorted(shares.items(), key=lambda item: (-item[1].requests, -item[1].entries, item[0]))
    shown = ranked[:limit] if limit else ranked
    lines = [f"  {title}:"] if ranked else []
    for name, share in shown:
        cost = "" if share.live_usd is None else f", ~{dollars(share.live_usd)} live"
        lines.append(f"    {name}: {share.entries} entries, {share.requests} requests{cost}")
    if len(ranked) > len(shown):
        lines.append(f"    ... {len(ranked) - len(shown)} more files (--json lists them all)")
    return lines


def scan_summary(files: Sequence[FileScan], total: Totals) -> str:
    """What `scan` prints for humans: the per-file table, the totals, and a note for each kind of finding
    that is listed apart (mismatched entries, missing papers, markdown digests behind their JSONL)."""
    lines = [scan_table(files), f"total: {total.entries} entries, {total.needs_repair} need repair, "
             f"{total.refused} refused, {total.missing} missing"]
    if total.mismatched:
        ids = ", ".join(paper for item in files for paper in item.mismatched)
        lines.append(f"mismatched: {total.mismatched} entries seem to hold another entry's summary ({ids}); listed "
                     "for a reader to check, repaired only with --include mismatched")
    if total.missing:
        lines.append(f"missing: {total.missing} papers of the raw crawl are not in their enhanced file; "
                     f"{MISSING_WHY}. They count in the exit code only with --fail-on missing; repair "
                     f"--restore-missing brings them back, but {RESTORE_BYPASSES}.")
    behind = [f for f in files if f.unrendered]
    if behind:
        lines.append(f"unrendered: {len(behind)} markdown digest(s) lack papers their JSONL file holds; "
                     "`resummarize render DATE_AI_enhanced_<Language>.jsonl -o DATE.md` renders one again "
                     "(repair --restore-missing does it itself).")
    return "\n".join(lines)


def scan_table(files: Sequence[FileScan]) -> str:
    """One row per scanned file: entries, what needs repair, refused, mismatched, missing, the language
    it was judged against (and where that came from), and the reasons counted."""
    rows = [("file", "entries", "repair", "refused", "mismatched", "missing", "language", "reasons")]
    rows += [(f.path, str(f.entries), str(len(f.needs_repair)), str(len(f.refused)), str(len(f.mismatched)),
              str(len(f.missing)), f"{f.language} ({f.language_source})", _reasons(f)) for f in files]
    widths = [max(len(r[i]) for r in rows) for i in range(7)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 6)]
        lines.append("  ".join([*cells, row[6].ljust(widths[6]), row[7]]))
    return "\n".join(lines)


def _reasons(scan: FileScan) -> str:
    counts: dict[str, int] = {}
    for item in scan.needs_repair:
        for reason in set(item.fields.values()):
            counts[reason] = counts.get(reason, 0) + 1
    if scan.unrendered:
        counts["unrendered"] = len(scan.unrendered)
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) or "-"
