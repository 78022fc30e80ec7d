"""What a run is asked to do: how digests are judged (`Settings`) and how a repair runs (`RepairOptions`).

The language a digest should be in is decided here and only here: the flag, then the file name (or the
JSONL sibling of a markdown digest), then `$LANGUAGE`, then the language most of its good entries are
written in, and only then English.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, model_validator

from resummarize.detect import Placeholders, written_in
from resummarize.digest.model import Diagnostic, Digest
from resummarize.errors import UsageError
from resummarize.language import Language, from_environment, resolve

Strategy = Literal["regenerate", "translate"]


class Settings(BaseModel):
    """How to judge a digest: which language it should be in and what else counts as broken."""

    language: str | None = None
    environment_language: str | None = None
    extra_placeholders: list[str] = []
    include_refused: bool = False
    #: Treat entries whose summary seems to belong to another paper as needing repair (`--include mismatched`).
    include_mismatched: bool = False

    def placeholders(self) -> Placeholders:
        return Placeholders(self.extra_placeholders)

    def preferred_language(self) -> Language | None:
        """The language asked for regardless of file names (the flag, else `$LANGUAGE`), if any."""
        if self.language:
            return resolve(self.language)
        return from_environment(self.environment_language)

    def language_choice(self, digest: Digest, placeholders: Placeholders | None = None) -> tuple[Language, str]:
        """The digest's language and where it came from (flag, name, sibling, environment, content, default)."""
        if self.language:
            return resolve(self.language), "flag"
        if digest.language_hint:
            try:
                return resolve(digest.language_hint), "name" if digest.format == "jsonl" else "sibling"
            except UsageError:  # a fork's name for a language we do not know: one line, and judge it anyway
                _unknown_language(digest, digest.language_hint)
        if (found := from_environment(self.environment_language)) is not None:
            return found, "environment"
        if (found := written_in(digest.entries, placeholders or self.placeholders())) is not None:
            return found, "content"
        return resolve("English"), "default"


class RepairOptions(BaseModel):
    """Everything a repair pass needs besides its inputs, client, journal and prompts."""

    settings: Settings = Settings()
    model: str = "gpt-4o-mini"
    strategy: Strategy = "regenerate"
    concurrency: int = 8
    rpm: int | None = None
    timeout: float = 60.0
    #: The longest wait the provider may ask for (Retry-After, `x-ratelimit-reset-*`); longer stops the run.
    max_wait: float = 600.0
    reasks: int = 4
    attempts: int = 6
    dry_run: bool = False
    out: Path | None = None
    backup: bool = False
    restore_missing: bool = False
    #: The pipeline's content check (`POST {"text": ...}` -> `{"sensitive": bool}`): every field of every
    #: answer, and a restored paper's abstract, pass it before anything is written.
    content_check: str | None = None

    @model_validator(mode="after")
    def _checked_live(self) -> RepairOptions:
        """The content check stands between live answers and the files; Batch API answers would bypass it."""
        if self.content_check and self.batch:
            raise UsageError("--content-check does not work with --batch yet: repair live to check the answers")
        return self
    #: Ask through the Batch API; `wait` polls every `poll_interval` seconds until the batch is done.
    batch: bool = False
    wait: bool = False
    poll_interval: float = 30.0
    #: What a batch leaves unanswered is asked live (full price) only when the user allows it.
    finish_live: bool = False
    #: Write the JSON report here, also when a fatal provider error stops the run.
    report: Path | None = None
    #: A file another run holds the lock of is waited for; False leaves it out of this run (`--no-wait`).
    wait_for_lock: bool = True
    #: Dollars per million (input, output) tokens by model, over the built-in table (the dry-run cost).
    prices: dict[str, tuple[float, float]] = {}


def _unknown_language(digest: Digest, declared: str) -> None:
    """Note once on the digest that its name declares a language we do not know (it is then judged
    against the language its entries are written in, and the rest of a folder is scanned as usual)."""
    message = (f"the file name declares the language {declared!r}, which is not known; judged against the "
               "language its entries are written in (pass --language to choose)")
    if all(diagnostic.message != message for diagnostic in digest.diagnostics):
        digest.diagnostics.append(Diagnostic(line=0, id="", message=message))
