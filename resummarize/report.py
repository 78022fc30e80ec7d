"""What a repair run did, per the `repair --report` contract, and the table printed at the end."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EntryResult(BaseModel):
    id: str
    path: str
    status: Literal["repaired", "failed"]
    attempts: int
    error: str | None = None


class ReportTotals(BaseModel):
    needs_repair: int = 0
    repaired: int = 0
    failed: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class RepairReport(BaseModel):
    """The contract object; `wall_time`, `cached` and `written` are for the table, not the JSON file."""

    totals: ReportTotals = Field(default_factory=ReportTotals)
    entries: list[EntryResult] = Field(default_factory=list)
    wall_time: float = Field(default=0.0, exclude=True)
    cached: int = Field(default=0, exclude=True)
    written: list[str] = Field(default_factory=list, exclude=True)
    estimated_requests: int = Field(default=0, exclude=True)
    estimated_prompt_tokens: int = Field(default=0, exclude=True)

    def record(self, result: EntryResult) -> None:
        self.entries.append(result)
        if result.status == "repaired":
            self.totals.repaired += 1
        else:
            self.totals.failed += 1

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"


def table(report: RepairReport, *, dry_run: bool = False) -> str:
    """A short closing table for humans (stderr)."""
    t = report.totals
    rows = [("needs repair", str(t.needs_repair))]
    if dry_run:
        rows.append(("answers in journal", str(report.cached)))
        rows.append(("requests to make", str(report.estimated_requests)))
        rows.append(("estimated prompt tokens", f"{report.estimated_prompt_tokens:,}"))
    else:
        rows += [
            ("repaired", f"{t.repaired} ({report.cached} from journal)"),
            ("failed", str(t.failed)),
            ("requests", str(t.requests)),
            ("prompt tokens", f"{t.prompt_tokens:,}"),
            ("completion tokens", f"{t.completion_tokens:,}"),
            ("files written", str(len(report.written))),
            ("wall time", f"{report.wall_time:.1f} s"),
        ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)
