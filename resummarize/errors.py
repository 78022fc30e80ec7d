"""Every exception resummarize raises on purpose, in one place.

User errors (`InputError` and subclasses) map to exit code 2, fatal provider errors to exit code 3, a
journal that cannot be written to 5, a report that cannot be written after the digests were to 6.
Each exception carries the data a caller needs to report it without parsing the message.
"""

from __future__ import annotations

from pathlib import Path

from resummarize.report import Usage


class ResummarizeError(Exception):
    """Base class: anything the CLI turns into one clean line instead of a traceback."""

    exit_code = 1


class InputError(ResummarizeError):
    """A file or argument we cannot use; nothing is written when one is raised."""

    exit_code = 2

    def __init__(self, path: Path | str | None, message: str, *, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.message = message
        where = self.path or ""
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}" if where else message)


class UsageError(InputError):
    """Bad combination of options (no file involved)."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class RunStopped(ResummarizeError):
    """The run cannot go on: it stops at once; what was validated is written, and `report` says what
    the run had done (a `RepairReport`, for the `--report` file)."""

    def __init__(self, message: str, *, requests: int = 0) -> None:
        self.requests = requests
        self.report: object | None = None
        super().__init__(message)


class ProviderError(RunStopped):
    """The provider refused the run as configured (bad key, unknown model, quota, nothing listening).

    `outage` marks the errors that are weather rather than configuration once the provider has been
    seen answering (nothing listening any more, every request failing with 5xx or a broken connection):
    a watching worker pauses on those instead of ending.
    """

    exit_code = 3

    def __init__(self, message: str, *, status: int | None = None, requests: int = 0, outage: bool = False,
                 advice: str = "") -> None:
        self.status = status
        self.outage = outage
        #: What went wrong without the advice on what to check (a worker that was answered needs none).
        self.reason = message
        super().__init__(f"{message}; {advice}" if advice else message, requests=requests)


class JournalError(RunStopped):
    """The journal cannot be written (a full disk): the answers received so far are still held and go
    into the digest, but no more are asked for, since they could no longer be kept."""

    exit_code = 5

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        super().__init__(f"{path}: cannot write the journal ({reason}); the run stopped, and every answer "
                         "received is written to the digest")


class ReportError(ResummarizeError):
    """The `--report` file could not be written after the digests were: not an input error (exit 2
    says nothing was written), so it has its own code."""

    exit_code = 6

    def __init__(self, path: Path | str, reason: str, *, written: int) -> None:
        self.path = str(path)
        self.written = written
        super().__init__(f"{path}: cannot write the report ({reason}); {written} digest file(s) were written")


class ReplayMissError(ProviderError):
    """Replay mode met a request that is not in the cassette; never fall back to the network."""

    exit_code = 4

    def __init__(self, paper_id: str | None, *, cassette: str | None = None, requests: int = 0) -> None:
        self.cassette = cassette
        self.paper_id = paper_id
        who = f"paper {paper_id}" if paper_id else "a request"
        where = f"{cassette}: " if cassette else ""
        super().__init__(
            f"{where}no recorded response for {who} (the prompt, model or abstract changed since recording; "
            "re-record with --record)",
            requests=requests,
        )


class SummaryError(ResummarizeError):
    """One entry could not be summarised: carries what the model said and how many tries it took."""

    def __init__(
        self,
        paper_id: str,
        reason: str,
        *,
        attempts: int = 0,
        last_answer: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        self.paper_id = paper_id
        self.reason = reason
        self.attempts = attempts
        self.last_answer = last_answer
        #: What the failed tries cost: they count in the run's totals all the same.
        self.usage = usage or Usage()
        super().__init__(f"{paper_id}: {reason}")


class ValidationFailure(ValueError):
    """An answer that parsed but is not acceptable; the message goes back to the model in a re-ask."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class BatchUnfinished(RunStopped):
    """A batch left questions unanswered (it failed or expired, or lines errored) and the user did not
    allow asking them live at full price: what the batch answered is written, the rest waits, exit 1."""

    exit_code = 1


class BatchPending(ResummarizeError):
    """A Batch API run the provider has not finished: nothing is lost, the same command picks it up."""

    def __init__(self, batch_id: str, status: str) -> None:
        self.batch_id = batch_id
        self.status = status
        super().__init__(f"batch {batch_id} is {status}: run the same command again later (or add --wait)")
