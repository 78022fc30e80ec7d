"""The progress bar of a repair: on stderr when it is a terminal, silent otherwise, never on stdout.

It counts entries while the inputs are read (so it moves from the first file), then papers repaired.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from tqdm import tqdm

    from resummarize.plan import PlannedFile, Run
    from resummarize.report import EntryResult


class Progress:
    """The hooks `repair` calls, drawn on one bar."""

    def __init__(self, bar: tqdm[Any], *, skip_locked: bool = False, timeout: float = 60.0) -> None:
        self.bar = bar
        self.skip_locked = skip_locked
        self.timeout = timeout

    @classmethod
    @contextmanager
    def shown(cls, *, skip_locked: bool = False, timeout: float = 60.0, file: TextIO | None = None,
              disable: bool | None = None) -> Iterator[Progress]:
        """The bar on `file` (stderr), drawn only on a terminal unless `disable` says otherwise."""
        from tqdm import tqdm

        # miniters=1: tqdm's default learns how many updates to skip between redraws from the reading
        # phase (a whole file's entries at a time) and keeps it after reset, which froze the bar at 0
        # until that many papers were repaired; redraws stay rate-limited by its mininterval.
        bar: tqdm[Any] = tqdm(total=0, unit="entry", desc="reading", file=file or sys.stderr, disable=disable,
                              dynamic_ncols=True, miniters=1)
        try:
            yield cls(bar, skip_locked=skip_locked, timeout=timeout)
        finally:
            bar.close()

    def read(self, planned: PlannedFile) -> None:
        """One input planned: its unusable lines, as `scan` reports them, and the bar moves by its entries."""
        for line in planned.diagnostics:
            self.bar.write(line, file=sys.stderr)
        self.bar.update(planned.entries)

    def planned(self, run: Run) -> None:
        """Every input read: the bar now counts papers repaired."""
        self.bar.unit = "paper"
        self.bar.set_description("repairing")
        self.bar.reset(total=sum(planned.work for planned in run.files))

    def say(self, line: str) -> None:
        """A line above the bar (a wait the provider asked for)."""
        self.bar.write(f"resummarize: {line}", file=sys.stderr)

    def locked(self, path: Path) -> None:
        what = "skipped" if self.skip_locked else "waiting for"
        self.bar.write(f"resummarize: {what} {path}: another resummarize run is repairing it"
                       + (" (--no-wait)" if self.skip_locked else ""), file=sys.stderr)

    def stopping(self, _: int) -> None:
        """The first Ctrl-C (the signal's number): no new requests; those in flight get `--timeout`."""
        self.bar.write(f"resummarize: stopping: no new requests; waiting up to {self.timeout:g} s for the answers "
                       "in flight (Ctrl-C again to quit at once)", file=sys.stderr)

    def result(self, _: EntryResult) -> None:
        self.bar.update(1)
