"""A provider that goes away after it has answered is weather, not a wrong configuration.

A watching worker runs for weeks. A provider restarting, a network partition or a burst of 5xx must pause
it, not end it: a cron job or a systemd unit would only restart it into the same outage, re-reading every
digest each time. Before the provider has ever answered, though, nothing listening is a wrong URL, and a
bad key or an unknown model never heals: those still end the worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from resummarize.errors import ProviderError
from resummarize.provider.retry import outage_reason
from resummarize.report import RepairReport

#: The longest pause between two tries while the provider is away (the first pause is the interval, and
#: each failed try doubles it): an hour-long outage costs a dozen tries, and its end is seen within minutes.
OUTAGE_CAP = 300.0


@dataclass
class Outage:
    """The provider stopped answering: since when, why, and how many tries found it still away."""

    reason: str
    since: float  # monotonic
    tries: int = 1

    def pause(self, interval: float) -> float:
        """The wait before the next try: the interval, doubled on each failed try, up to `OUTAGE_CAP`."""
        return float(min(interval * 2.0 ** (self.tries - 1), max(interval, OUTAGE_CAP)))


class OutageWatch:
    """What a worker knows of its provider's health: answered yet, away now, and the files an outage
    left failing. Says once that the provider is away, and once that it is back."""

    def __init__(self, log: Callable[[str], None], *, interval: float, patient: bool) -> None:
        self.log = log
        self.interval = interval
        #: Watch mode; a one-shot pass reports an outage like any provider error.
        self.patient = patient
        self.answered = False
        self.outage: Outage | None = None
        self.stalled: set[Path] = set()

    def pause(self) -> float:
        """How long to wait before the next pass: the interval, or longer while the provider is away."""
        return self.interval if self.outage is None else self.outage.pause(self.interval)

    def excuses(self, exc: BaseException) -> bool:
        """An outage to wait out rather than a configuration to refuse: only in watch mode, and only once
        the provider has answered (before that, nothing listening is a wrong URL)."""
        return self.patient and self.answered and isinstance(exc, ProviderError) and exc.outage

    def repeated(self, report: RepairReport) -> bool:
        """A file that met the outage again and got nothing: not worth a log line on every try."""
        return self.outage is not None and _away(report) is not None and not _answered(report)

    def heard(self, path: Path, report: RepairReport) -> set[Path]:
        """Take in a file's repair; returns the files to ask again at once (this one, when an outage
        left it failing, or every file the outage left failing, when it is over)."""
        answered, away = _answered(report), _away(report)
        self.answered = self.answered or answered
        if away is not None and self.patient and self.answered:
            self.away(path, away)
            return {path}
        return self.back() if answered else set()

    def away(self, path: Path, reason: str) -> None:
        """The provider failed `path`: the outage begins (said once) or goes on (the next wait doubles)."""
        self.stalled.add(path)
        if self.outage is not None:
            self.outage.tries += 1
            return
        self.outage = Outage(reason, time.monotonic())
        self.log(f"provider unavailable ({reason}): pausing; trying again in {self.pause():g} s, then twice as "
                 f"long each time up to {max(self.interval, OUTAGE_CAP):g} s")

    def back(self) -> set[Path]:
        """The provider answers again: say so, and hand back the files the outage left failing."""
        if self.outage is None:
            return set()
        waited = time.monotonic() - self.outage.since
        self.log(f"provider answers again after {waited:.0f} s ({self.outage.tries} tries); asking again for "
                 f"{len(self.stalled)} file(s) the outage left failing")
        stalled, self.stalled, self.outage = self.stalled, set(), None
        return stalled


def _answered(report: RepairReport) -> bool:
    return any(e.status == "repaired" and e.attempts > 0 for e in report.entries)


def _away(report: RepairReport) -> str | None:
    """Why a file's entries failed when the provider was away (not when its answers were bad), if so."""
    return next((e.error for e in report.entries if e.error and outage_reason(e.error)), None)
