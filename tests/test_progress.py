"""The progress bar tells the truth: it moves with each answer from the first one."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from resummarize.progress import Progress
from resummarize.report import EntryResult


def test_the_bar_shows_the_first_answer_after_reading_big_files() -> None:
    """Reading moves the bar a file's entries at a time (231 here); tqdm learnt to skip that many updates
    between redraws, and the bar sat at 0/639 until 231 papers were repaired."""
    screen = io.StringIO()
    with Progress.shown(file=screen, disable=False) as progress:
        progress.bar.mininterval = 0  # every redraw the bar would make, not only the ones 0.1 s apart
        for entries in (231, 231, 177):
            progress.read(SimpleNamespace(diagnostics=[], entries=entries))  # type: ignore[arg-type]
        progress.planned(SimpleNamespace(files=[SimpleNamespace(work=639)]))  # type: ignore[arg-type]
        shown = len(screen.getvalue())
        result: Any = EntryResult(id="2605.00001", path=str(Path("day.jsonl")), status="repaired", attempts=1)
        progress.result(result)
        after_first = screen.getvalue()[shown:]
        progress.result(result)
        after_second = screen.getvalue()[shown:]
    assert "1/639" in after_first and "2/639" in after_second
