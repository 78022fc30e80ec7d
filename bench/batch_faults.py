"""What the Batch API path costs when the provider misbehaves as OpenAI documents it may: a create reply
lost to a timeout, a batch that fails validation, a batch whose error file holds 30 % of its lines.

    python bench/batch_faults.py

Each case repairs a fresh copy of the test corpus (72 broken entries) against the fake provider on
127.0.0.1 with `--batch --wait`, first as a user runs it (the default: nothing goes live unasked), then
again with `--finish-live` where the first run stopped. Money is gpt-4o-mini's list price: the tokens of
batch lines at half price, those of live requests at full price (the fake reports the tokens it used).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import openai
from common import REPO, record

from resummarize.config import RepairOptions
from resummarize.cost import BATCH_DISCOUNT, dollars, price
from resummarize.engine import repair
from resummarize.errors import BatchUnfinished
from resummarize.journal import Journal
from resummarize.provider.prompts import load_prompts
from resummarize.report import RepairReport
from resummarize.testing.batches import BatchSettings
from resummarize.testing.server import FakeProvider

CORPUS = REPO / "tests" / "corpus"
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"


@dataclass
class Case:
    name: str
    settings: BatchSettings
    timeout: float = 30.0


@dataclass
class Row:
    name: str
    run: str
    exit: str
    batches: int
    uploads: int
    batch_lines: int
    batch_errors: int
    live: int
    repaired: int
    usd: float


def usd(report: RepairReport, *, batch: bool) -> float:
    rates = price(MODEL)
    assert rates is not None
    cost = (report.totals.prompt_tokens * rates[0] + report.totals.completion_tokens * rates[1]) / 1_000_000
    return cost * BATCH_DISCOUNT if batch else cost


async def once(fake: FakeProvider, folder: Path, journal: Path, timeout: float, finish_live: bool) -> tuple[
        RepairReport, str]:
    client = openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0, timeout=timeout)
    options = RepairOptions(batch=True, wait=True, poll_interval=0.05, finish_live=finish_live)
    try:
        with Journal(journal) as db:
            report = await repair([folder], options, client=client, journal=db, prompts=load_prompts())
        return report, "0"
    except BatchUnfinished as exc:
        assert isinstance(exc.report, RepairReport)
        return exc.report, f"1: {exc}"
    finally:
        await client.close()


def measure(case: Case, root: Path) -> list[Row]:
    folder = root / case.name.replace(" ", "-")
    shutil.copytree(CORPUS, folder, ignore=shutil.ignore_patterns("*.md"))
    rows = []
    with FakeProvider(batch=case.settings) as fake:
        for run, finish in (("--batch --wait", False), ("... --finish-live", True)):
            before = fake.count(CHAT)
            report, code = asyncio.run(once(fake, folder, root / f"{folder.name}.db", case.timeout, finish))
            live = fake.count(CHAT) - before
            money = usd(report, batch=not live)
            uploads = sum(1 for r in fake.requests if (r.method, r.path) == ("POST", "/v1/files"))
            rows.append(Row(case.name, run, code, fake.batches, uploads, report.totals.batch_lines,
                            report.totals.batch_errors, live, report.totals.repaired, money))
            if code == "0":
                break
    return rows


def main() -> None:
    cases = [
        Case("lost create reply", BatchSettings(create_delay=1.0), timeout=0.4),
        Case("validation failure", BatchSettings(outcome="failed")),
        Case("30% error file", BatchSettings(error_rate=0.3)),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for case in cases for row in measure(case, Path(tmp))]
    head = ("| case | run | exit | batches created | uploads | batch lines | in error file | live requests "
            "| repaired | money |\n|---|---|---|---|---|---|---|---|---|---|\n")
    body = head + "".join(
        f"| {r.name} | `{r.run}` | {r.exit.split(':')[0]} | {r.batches} | {r.uploads} | {r.batch_lines} "
        f"| {r.batch_errors} | {r.live} | {r.repaired} | {dollars(r.usd)} |\n" for r in rows)
    stops = [f"- {r.name}: {r.exit.split(': ', 1)[1]}" for r in rows if r.exit.startswith("1")]
    body += "\nWhat a stopped run said (exit 1):\n\n" + "\n".join(stops) + "\n"
    body += ("\nMoney: the run's own tokens at gpt-4o-mini's list price, batch lines at half price. The "
             "batches-created column counts every batch the fake holds after the run.\n")
    record("Batch API under documented faults", "python bench/batch_faults.py", body)


if __name__ == "__main__":
    main()
