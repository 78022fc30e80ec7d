"""A watching worker for daily pipelines: repair every digest that appears or changes in a folder.

Polling, not inotify: it works the same on network mounts, in containers and in CI, and a daily
pipeline does not need sub-second reactions. Each file is repaired under an exclusive lock and reloaded
once the lock is held, so two workers on one folder never write one file and never ask twice for one
paper. A markdown digest rendered from an enhanced JSONL file is not repaired on its own (it would be
judged in the wrong language and its papers asked for a second time): it is re-rendered from the JSONL
file whenever the worker rewrote that file.
"""

from __future__ import annotations

import asyncio
import hashlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import openai

from resummarize.config import RepairOptions
from resummarize.digest import iter_digest_paths, raw_sibling
from resummarize.engine import repair
from resummarize.errors import InputError, ProviderError, RunStopped, UsageError
from resummarize.journal import Journal
from resummarize.lock import file_lock
from resummarize.outage import OutageWatch
from resummarize.plan import PlannedFile
from resummarize.provider.prompts import PromptSet
from resummarize.report import RepairReport
from resummarize.rerender import render_targets, rerender
from resummarize.writer import open_writers

#: Watch mode leaves a file alone until it has been quiet this long and no program holds it open for
#: writing: a pipeline may still be writing it, and replacing a file under an open writer loses whatever
#: it writes next.
SETTLE = 5.0
#: A file whose mtime was this much older than our last read of it cannot have changed unseen with the
#: same mtime and size (coarse timestamps go up to 2 s), so its content need not be hashed again.
RACY_NS = 2_000_000_000
#: Watch mode asks again for entries a flaky model failed after this long, not every pass.
RETRY_FAILED = 3600.0

Log = Callable[[str], None]


@dataclass(frozen=True)
class Signature:
    """What a file held when last seen; two signatures are equal when the content is."""

    sha256: str
    mtime_ns: int = field(compare=False)
    size: int = field(compare=False)
    seen_ns: int = field(compare=False)


Fingerprint = tuple[Signature, ...]


def observe(path: Path, previous: Signature | None = None) -> Signature | None:
    """The file's signature, hashing only when its stat no longer proves it unchanged; None if gone."""
    try:
        st, old = path.stat(), previous
        if old and (st.st_mtime_ns, st.st_size) == (old.mtime_ns, old.size) and old.seen_ns - st.st_mtime_ns > RACY_NS:
            return old
        seen = time.time_ns()
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    return Signature(hashlib.sha256(data).hexdigest(), st.st_mtime_ns, len(data), seen)


@dataclass
class PassSummary:
    """What one pass did, for the exit code of `--once`."""

    files: int = 0
    failed: int = 0  # entries still broken (in a dry run: entries that need repair)
    errors: int = 0
    skipped: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.errors else 0


class Worker:
    """Remembers what each file held when last handled, and handles the files that changed since."""

    def __init__(
        self, folder: Path, options: RepairOptions, *, make_client: Callable[[], openai.AsyncOpenAI],
        journal: Journal, prompts: PromptSet, log: Log, stop: threading.Event, settle: float = 0.0,
        retry_failed: float = RETRY_FAILED, interval: float = 60.0, patient: bool = False,
    ) -> None:
        self.folder = folder
        self.options = options
        self.make_client = make_client
        self.journal = journal
        self.prompts = prompts
        self.log = log
        self.stop = stop
        self.settle = settle
        self.retry_failed = retry_failed
        #: Watch mode (`patient`): an outage after the provider has answered pauses the worker.
        self.weather = OutageWatch(log, interval=interval, patient=patient)
        self.seen: dict[Path, Fingerprint] = {}
        self.retry_at: dict[Path, float] = {}  # files left with failed entries, by monotonic time
        self.preferred = options.settings.preferred_language()
        self.told_empty = False

    def run_pass(self) -> PassSummary:
        """One look at the folder; raises RunStopped when the provider refuses the configuration (or the
        journal cannot be written). An outage (see `OutageWatch`) ends the pass early without raising."""
        listing = list(iter_digest_paths([self.folder], require=False))
        if not listing and not self.seen and not self.told_empty:
            self.told_empty = True
            self.log(f"nothing to watch in {self.folder}: no digest or enhanced JSONL file (yet)")
        targets = render_targets(listing, self.preferred)
        derived = {md for mds in targets.values() for md in mds}
        work = self._quiet([path for path in listing if path not in derived and self._changed(path)])
        present = set(listing)
        self.seen = {path: sig for path, sig in self.seen.items() if path in present}
        self.retry_at = {path: due for path, due in self.retry_at.items() if path in present}
        summary = PassSummary()
        if work and not self.stop.is_set():
            asyncio.run(self._handle(work, targets, summary))
            self.journal.checkpoint()  # a worker runs for weeks: its journal's log must not grow with it
        return summary

    def _quiet(self, paths: list[Path]) -> list[Path]:
        """Watch mode: the files no program holds open for writing (theirs or their raw crawl's); one look
        at the open files serves them all."""
        if not self.settle or not paths:
            return paths
        sources = {path: self._sources(path) for path in paths}  # each reads the raw crawl's first line
        busy = open_writers(source for each in sources.values() for source in each)
        return [path for path, each in sources.items() if busy.keys().isdisjoint(each)]

    def _fingerprint(self, path: Path) -> Fingerprint | None:
        """The file and, when missing papers are restored, the raw crawl it is completed from."""
        sources = self._sources(path)
        previous = dict(zip(sources, self.seen.get(path, ()), strict=False))
        signatures = []
        for source in sources:
            signature = observe(source, previous.get(source))
            if signature is None:
                return None
            signatures.append(signature)
        return tuple(signatures)

    def _sources(self, path: Path) -> list[Path]:
        raw = raw_sibling(path) if self.options.restore_missing else None
        return [path] if raw is None else [path, raw]

    def _changed(self, path: Path) -> bool:
        try:
            if self.settle and time.time() - max(s.stat().st_mtime for s in self._sources(path)) < self.settle:
                return False  # still being written, perhaps
            if time.monotonic() >= self.retry_at.get(path, float("inf")):
                return True
            current = self._fingerprint(path)
        except (OSError, InputError):
            return True  # let the pass report why it cannot be read
        if current is None:
            return False
        if self.seen.get(path) == current:
            self.seen[path] = current  # same content: keep the fresher stat so it need not be hashed
            return False
        return True

    async def _handle(self, paths: list[Path], targets: dict[Path, list[Path]], summary: PassSummary) -> None:
        client = None if self.options.dry_run else self.make_client()
        try:
            for path in paths:
                if self.stop.is_set():
                    break
                try:
                    await self._one(path, client, targets.get(path, []), summary)
                except ProviderError as exc:
                    if not self.weather.excuses(exc):
                        raise
                    self.weather.away(path, exc.reason)  # no "check --base-url": it did answer
                    self.retry_at[path] = time.monotonic()  # due at the next try
                    break  # the files after it wait for the provider too
        finally:
            if client is not None:
                await client.close()

    async def _one(self, path: Path, client: openai.AsyncOpenAI | None, markdown: list[Path],
                   summary: PassSummary) -> None:
        try:
            with file_lock(path) as held:
                if not held:
                    summary.skipped += 1
                    self.log(f"skipped {path}: locked by another worker")
                    return
                await self._locked(path, client, markdown, summary)
        except InputError as exc:
            summary.errors += 1
            self.log(f"error {path}: {_reason(path, exc)}")

    async def _locked(self, path: Path, client: openai.AsyncOpenAI | None, markdown: list[Path],
                      summary: PassSummary) -> None:
        """Repair a file we hold the lock of, from what it holds now (another worker may have been first)."""
        before = self._fingerprint(path)
        if before is None:
            return  # removed meanwhile
        self.seen[path] = before  # a malformed file is retried only once it changes
        def plan(planned: PlannedFile) -> None:
            for line in planned.diagnostics:
                self.log(line)

        try:
            report = await repair([path], self.options, client=client, journal=self.journal,
                                  prompts=self.prompts, on_file=plan, on_wait=self.log,
                                  stop=self.stop)
        except RunStopped as exc:
            weather = self.weather.excuses(exc)
            if isinstance(exc.report, RepairReport):
                self._done(path, exc.report, markdown, summary, quiet=weather)
            if not weather:
                self.log(f"fatal {path}: {exc}")
            raise
        self._done(path, report, markdown, summary)

    def _done(self, path: Path, report: RepairReport, markdown: list[Path], summary: PassSummary, *,
              quiet: bool = False) -> None:
        summary.files += 1
        if not (quiet or self.weather.repeated(report)):  # an outage is told once, not on every try
            self.log(_describe(path, report, self.options.dry_run))
        if self.options.dry_run:
            summary.failed += report.totals.needs_repair
            return
        summary.failed += report.totals.failed
        if report.totals.failed:
            self.retry_at[path] = time.monotonic() + self.retry_failed
        else:
            self.retry_at.pop(path, None)
        for due in set() if quiet else self.weather.heard(path, report):  # a quiet stop is the caller's to judge
            self.retry_at[due] = time.monotonic()
        if not report.written:
            return
        self.seen[path] = self._fingerprint(path) or ()
        for rendered in report.rendered:  # by the repair itself: the JSONL gained restored papers
            self.log(f"rendered {rendered}")
        for target in markdown:
            if str(target) not in report.rendered:
                self._render(path, target)

    def _render(self, source: Path, target: Path) -> None:
        if rerender(source, target):
            self.log(f"rendered {target}")


def _reason(path: Path, exc: InputError) -> str:
    if exc.path != str(path):
        return str(exc)  # the raw crawl beside it, or the lock file
    return exc.message if exc.line is None else f"line {exc.line}: {exc.message}"


def _describe(path: Path, report: RepairReport, dry_run: bool) -> str:
    """One log line with the counts of a file's repair."""
    totals = report.totals
    if dry_run:
        return f"plan {path}: {totals.needs_repair} need repair, {report.cached} in journal"
    if not totals.needs_repair:
        return f"clean {path}"
    left = totals.needs_repair - totals.repaired - totals.failed
    verb = "stopped" if left else "repaired" if totals.repaired else "failed"
    rest = f", {left} left for the next run" if left else ""
    return (f"{verb} {path}: {totals.repaired - totals.restored} repaired, {totals.failed} failed, "
            f"{totals.requests} requests, {totals.restored} restored, {report.cached} from journal{rest}")


@contextmanager
def stop_on_signals(stop: threading.Event, announce: Callable[[int], None] | None = None) -> Iterator[list[int]]:
    """SIGTERM and SIGINT set `stop` (requests in flight finish, what was validated is written), and
    `announce` hears of the first.

    A second SIGINT interrupts at once. Handlers can only be set from the main thread; elsewhere the
    caller's own `stop` is the only way to end the worker. Yields the signals received.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        if not stop.is_set() and announce is not None:
            announce(signum)
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, handle)
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


def run_worker(
    folder: Path, options: RepairOptions, *, make_client: Callable[[], openai.AsyncOpenAI], journal_path: Path,
    prompts: PromptSet, interval: float, once: bool, log: Log, settle: float = SETTLE,
) -> int:
    """Watch `folder` until SIGTERM/SIGINT (exit 0), or make one pass with `once`.

    `once` exits 0 when nothing is left to repair and 1 when entries failed or a file could not be
    read; a fatal provider error exits with its code (3) at once. In watch mode, a provider that has
    answered and then goes away (an outage) pauses the worker; only a configuration error ends it.
    `settle` applies to watch mode only: a one-shot run comes after the pipeline step that wrote the files.
    """
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder")
    if options.out is not None or options.batch:
        raise UsageError("the worker repairs files in place with direct requests: --out and --batch do not apply")
    stop = threading.Event()
    with Journal(journal_path) as journal, stop_on_signals(stop) as received:
        worker = Worker(folder, options, make_client=make_client, journal=journal, prompts=prompts, log=log,
                        stop=stop, settle=0.0 if once else settle, interval=interval, patient=not once)
        if not once:
            log(f"watching {folder} every {interval:g} s")
        code = _loop(worker, once)
    if received:
        log(f"stopped by {signal.Signals(received[0]).name}: validated answers are written")
    return code


def _loop(worker: Worker, once: bool) -> int:
    while True:
        try:
            summary = worker.run_pass()
        except RunStopped as exc:
            return exc.exit_code
        if worker.stop.is_set() or (not once and worker.stop.wait(worker.weather.pause())):
            return 0
        if once:
            return summary.exit_code
