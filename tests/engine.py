"""Shared helpers for tests that run the repair engine against the fake provider."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openai

from resummarize.config import RepairOptions, Settings
from resummarize.engine import repair
from resummarize.journal import Journal
from resummarize.provider import wire
from resummarize.provider.prompts import load_prompts
from resummarize.report import RepairReport
from resummarize.testing.server import FakeProvider


def client_for(fake: FakeProvider, key: str = "sk-test", timeout: float = 5.0) -> openai.AsyncOpenAI:
    """The client the command line makes, pointed at the fake."""
    return wire.client(key, fake.base_url, timeout)


async def run(
    paths: Sequence[Path],
    fake: FakeProvider,
    journal: Path,
    *,
    language: str | None = None,
    key: str = "sk-test",
    **options: Any,
) -> RepairReport:
    """One repair run in-process, with a fresh client and the given journal file (`on_wait` is passed to
    `repair`, the rest are options)."""
    on_wait = options.pop("on_wait", None)
    settings = Settings(language=language, include_refused=options.pop("include_refused", False))
    opts = RepairOptions(settings=settings, **options)
    with Journal(journal) as db:
        client = client_for(fake, key, opts.timeout)
        try:
            return await repair(list(paths), opts, client=client, journal=db, prompts=load_prompts(),
                                on_wait=on_wait)
        finally:
            await client.close()


def first_papers(digest: Path, target: Path, papers: int) -> Path:
    """A markdown digest cut after its first `papers` entries, written to `target`."""
    lines = digest.read_text(encoding="utf-8").splitlines(keepends=True)
    end = next(i for i, line in enumerate(lines) if line.startswith(f"### [{papers + 1}] "))
    target.write_text("".join(lines[:end]), encoding="utf-8")
    return target


def answers_in(journal: Journal) -> int:
    """How many validated answers the journal file holds, read through a connection of its own."""
    with sqlite3.connect(journal.path) as db:
        return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
