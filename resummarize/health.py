"""The health page of a data folder (`scan DIR --html FILE`): one self-contained HTML file, nothing fetched
from elsewhere, that shows when a pipeline broke rather than listing it.

It holds a chart of each day's findings by reason over the whole folder (an inline SVG: stacked bars, one
per day, in date order), the worst days first in a table, and what a repair would cost (the dry run's
estimate). A day is a day's enhanced JSONL file and its `DATE.md` together: a paper broken in both counts
once, under the main reason of its entry (the one that decides how much is rewritten).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from resummarize.config import RepairOptions, Settings
from resummarize.cost import CostEstimate, dollars, unknown_price
from resummarize.digest.names import day_of
from resummarize.estimate import main_reason
from resummarize.report import FileScan

#: The chart's series, bottom to top, with their colours; `missing` (dropped papers, often on purpose) is
#: information and is drawn pale, on top.
SERIES: dict[str, str] = {
    "placeholder": "#d62728",
    "empty": "#ff7f0e",
    "wrong_language": "#1f77b4",
    "corrupted": "#9467bd",
    "mismatched": "#8c564b",
    "refused": "#17becf",
    "missing": "#c7c7c7",
}
#: The table lists this many days, worst first.
WORST_DAYS = 30
CHART_WIDTH, CHART_HEIGHT, AXIS, TOP = 960, 260, 40, 12


@dataclass
class Day:
    """One day of the folder: its files and the papers found broken (or missing), by main reason."""

    name: str
    files: list[str] = field(default_factory=list)
    papers: dict[str, set[str]] = field(default_factory=dict)
    unrendered: int = 0

    def count(self, reason: str) -> int:
        return len(self.papers.get(reason, ()))

    @property
    def broken(self) -> int:
        """Papers needing repair (dropped papers are not broken)."""
        return sum(len(ids) for reason, ids in self.papers.items() if reason != "missing")


def days_of(files: Sequence[FileScan]) -> list[Day]:
    """The folder's days in date order; a paper broken in a day's JSONL and its markdown counts once."""
    days: dict[tuple[str, str], Day] = {}
    folders = {day_of(scan.path)[0] for scan in files}
    for scan in files:
        key = day_of(scan.path)
        day = days.setdefault(key, Day(name=key[1] if len(folders) == 1 else f"{key[0]}/{key[1]}"))
        day.files.append(scan.path)
        day.unrendered += len(scan.unrendered)
        for need in scan.needs_repair:
            day.papers.setdefault(main_reason(sorted(set(need.fields.values()))), set()).add(need.id)
        if scan.refused:
            day.papers.setdefault("refused", set()).update(scan.refused)
        if scan.missing:
            day.papers.setdefault("missing", set()).update(scan.missing)
    return [days[key] for key in sorted(days)]


def page(folder: str, files: Sequence[FileScan], estimate: CostEstimate | None,
         when: dt.datetime | None = None) -> str:
    """The whole page as one string: inline style, inline SVG, no script, no external reference."""
    days = days_of(files)
    when = when or dt.datetime.now(dt.UTC)
    broken = sum(day.broken for day in days)
    missing = sum(day.count("missing") for day in days)
    title = f"resummarize health: {folder}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p class=\"summary\">{len(days)} days, {len(files)} files, {sum(f.entries for f in files):,} entries: "
        f"<strong id=\"broken\">{broken:,}</strong> papers need repair, {missing:,} papers missing "
        f"(dropped by the pipeline; restored only on request). Scanned {when:%Y-%m-%d %H:%M} UTC.</p>",
        "<h2>Findings per day</h2>", _chart(days), _legend(days),
        "<h2>What a repair would cost</h2>", _cost(estimate),
        f"<h2>Worst days</h2>{_table(days)}",
        "</body></html>\n",
    ])


STYLE = (
    "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:20px}h2{font-size:16px;margin-top:28px}"
    "table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}"
    "td:first-child,th:first-child{text-align:left;white-space:nowrap}"
    ".legend span{display:inline-block;margin-right:14px}"
    ".legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}"
    "svg text{font:11px system-ui,sans-serif;fill:#555}"
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _chart(days: Sequence[Day]) -> str:
    """Stacked bars, one per day, placed on a calendar axis (gaps show days without files) when every day
    is a date, else side by side; scaled to the worst day; each segment names its count."""
    top = max((sum(day.count(r) for r in SERIES) for day in days), default=0) or 1
    places = _places(days)
    slots = (max(places) + 1) if places else 1
    step = (CHART_WIDTH - AXIS - 10) / slots
    bar = max(step * 0.8, 2.0)
    parts = [f"<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{CHART_WIDTH}\" "
             f"height=\"{TOP + CHART_HEIGHT + 30}\" shape-rendering=\"crispEdges\" role=\"img\">"]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + CHART_HEIGHT - fraction * CHART_HEIGHT
        parts.append(f"<line x1=\"{AXIS}\" x2=\"{CHART_WIDTH}\" y1=\"{y:.1f}\" y2=\"{y:.1f}\" stroke=\"#e5e5e5\"/>"
                     f"<text x=\"{AXIS - 4}\" y=\"{y + 4:.1f}\" text-anchor=\"end\">{round(top * fraction)}</text>")
    for day, place in zip(days, places, strict=True):
        x, y = AXIS + place * step, float(TOP + CHART_HEIGHT)
        for reason, colour in SERIES.items():
            n = day.count(reason)
            if not n:
                continue
            height = n / top * CHART_HEIGHT
            y -= height
            parts.append(f"<rect class=\"bar\" data-day=\"{_e(day.name)}\" data-reason=\"{reason}\" x=\"{x:.2f}\" "
                         f"y=\"{y:.2f}\" width=\"{bar:.2f}\" height=\"{height:.2f}\" fill=\"{colour}\">"
                         f"<title>{_e(day.name)}: {n} {reason}</title></rect>")
    shown = _label_positions(len(days))
    for index in shown:
        x = AXIS + places[index] * step + bar / 2
        anchor = "start" if index == 0 else "end" if index == len(days) - 1 else "middle"
        parts.append(f"<text x=\"{x:.1f}\" y=\"{TOP + CHART_HEIGHT + 16}\" text-anchor=\"{anchor}\">"
                     f"{_e(days[index].name)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _places(days: Sequence[Day]) -> list[int]:
    """Each day's slot on the x axis: days since the first when every name is a date, else its index."""
    try:
        dates = [dt.date.fromisoformat(day.name[-10:]) for day in days]
    except ValueError:
        return list(range(len(days)))
    return [(date - dates[0]).days for date in dates] if dates else []


def _label_positions(count: int, labels: int = 6) -> list[int]:
    if count <= labels:
        return list(range(count))
    return sorted({round(i * (count - 1) / (labels - 1)) for i in range(labels)})


def _legend(days: Sequence[Day]) -> str:
    shown = [r for r in SERIES if any(day.count(r) for day in days)]
    items = "".join(f"<span><i style=\"background:{SERIES[r]}\"></i>{r} "
                    f"{sum(day.count(r) for day in days):,}</span>" for r in shown)
    return f"<p class=\"legend\">{items or 'nothing found: every day is clean'}</p>"


def _table(days: Sequence[Day]) -> str:
    worst = sorted((d for d in days if d.broken or d.count("missing") or d.unrendered),
                   key=lambda d: (-d.broken, -d.count("missing"), d.name))[:WORST_DAYS]
    if not worst:
        return "<p>No day has anything to repair.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in ("day", "need repair", *SERIES, "unrendered", "files"))
    rows = []
    for day in worst:
        cells = [day.name, str(day.broken), *(str(day.count(r) or "") for r in SERIES),
                 str(day.unrendered or ""), str(len(day.files))]
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return f"<table id=\"worst\"><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cost(estimate: CostEstimate | None) -> str:
    if estimate is None:
        return "<p>No estimate.</p>"
    if not estimate.requests:
        return "<p id=\"cost\">Nothing to ask: every answer needed is in the journal, or nothing needs repair.</p>"
    if estimate.live_usd is None or estimate.batch_usd is None:
        money = _e(unknown_price(estimate.model, "repair --dry-run"))
    else:
        money = (f"about <strong>{dollars(estimate.live_usd)}</strong> live, {dollars(estimate.batch_usd)} with "
                 f"--batch ({_e(estimate.rates)})")
    return (f"<p id=\"cost\">{estimate.requests:,} requests, ~{estimate.prompt_tokens:,} prompt + "
            f"~{estimate.completion_tokens:,} completion tokens: {money}. "
            "Missing papers are not included (repair --restore-missing --dry-run prices them).</p>")


def write_page(target: Path, paths: Sequence[Path], files: Sequence[FileScan], settings: Settings) -> None:
    """Price a repair of `paths` (the dry run: no network; answers the journal holds are free) and write
    the page to `target` atomically. The model is `$MODEL_NAME`, else the default."""
    from resummarize.engine import repair
    from resummarize.writer import write_atomic

    model = os.environ.get("MODEL_NAME") or RepairOptions().model
    options = RepairOptions(settings=settings, dry_run=True, model=model)
    estimate = asyncio.run(repair(list(paths), options)).estimate
    folder = ", ".join(str(path) for path in paths)
    write_atomic(target, page(folder, files, estimate).encode("utf-8"))
