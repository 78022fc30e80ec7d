"""Prompt templates: loaded once, versioned by content, rendered into chat messages.

The templates are plain jinja2 files so users can tune wording with `--prompts DIR` without touching code.
Their version (a hash of names and contents) goes into the journal, so a changed prompt never reuses answers
produced by an older one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from resummarize.digest.model import FIELDS, canonical
from resummarize.errors import InputError, UsageError
from resummarize.language import Language
from resummarize.provider.answer import clean_text

#: Template names every prompt directory must hold.
TEMPLATES: tuple[str, ...] = ("system.j2", "regenerate.j2", "translate.j2")
#: Strategy name -> the template of its user message (the system template is shared).
STRATEGIES: Mapping[str, str] = {"regenerate": "regenerate.j2", "translate": "translate.j2"}

_MARKER_RUN = re.compile(r"<{3,}|>{3,}")
def neutralise(text: str) -> str:
    """Break up `<<<`/`>>>` runs so paper text can never open or close a data block of the prompt."""
    return _MARKER_RUN.sub(lambda m: " ".join(m.group()), text)


def _data(text: str) -> str:
    """Paper text as it goes into a prompt: one line (no forged `Target language:` lines), no markers."""
    return neutralise(clean_text(text))


def _existing_fields(existing: Mapping[str, str]) -> dict[str, str]:
    """The usable existing fields under canonical names, in digest order."""
    by_name = {canonical(key): value for key, value in existing.items()}
    return {name: _data(by_name[name]) for name in FIELDS if by_name.get(name, "").strip()}


def _answer_keys(keys: Sequence[str] | None) -> dict[str, str]:
    """Canonical field name -> the JSON key the answer must use."""
    chosen = {canonical(key): key for key in (keys or FIELDS)}
    if sorted(chosen) != sorted(FIELDS) or len(chosen) != len(keys or FIELDS):
        wanted = ", ".join(FIELDS)
        raise UsageError(f"answer keys must name the fields {wanted} once each, got {list(keys or ())}")
    return {name: chosen[name] for name in FIELDS}


@dataclass(frozen=True)
class PromptSet:
    """The three templates of one directory and the version that identifies their exact text."""

    directory: Path
    sources: Mapping[str, str]
    version: str
    environment: jinja2.Environment = field(repr=False, compare=False)

    def render(
        self,
        strategy: str,
        *,
        paper_id: str,
        title: str,
        abstract: str,
        language: Language,
        existing: Mapping[str, str] | None,
        schema_hint: str | None,
        keys: Sequence[str] | None = None,
    ) -> list[dict[str, str]]:
        """Chat messages (system, user) asking for the five fields of one paper.

        `keys` are the JSON keys to ask for when a file uses older names (`task` for `tldr`); templates
        see them as `keys.<canonical name>` so the prompt and the enforced schema never disagree.
        """
        if strategy not in STRATEGIES:
            choices = ", ".join(STRATEGIES)
            raise UsageError(f"unknown strategy {strategy!r} (choose one of: {choices})")
        if strategy == "translate" and existing is None:
            raise UsageError("the translate strategy needs the existing fields of the entry")
        context = {
            "strategy": strategy,
            "paper_id": clean_text(paper_id),
            "title": _data(title),
            "abstract": _data(abstract),
            "language": language,
            "existing": _existing_fields(existing or {}),
            "keys": _answer_keys(keys),
        }
        system = self._render("system.j2", context)
        if schema_hint is not None:
            system = (
                f"{system.rstrip()}\n\nThe JSON object must match this JSON schema:\n{schema_hint.strip()}\n"
            )
        user = self._render(STRATEGIES[strategy], context)
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def _render(self, name: str, context: Mapping[str, object]) -> str:
        try:
            return self.environment.get_template(name).render(context)
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            # A user's template can fail in any of these ways; it is their input, not our bug.
            raise InputError(self.directory / name, f"cannot render prompt template: {exc}") from exc


def packaged_directory() -> Path:
    """The templates shipped with the code: inside the package (wheel) or beside it (source checkout)."""
    here = Path(__file__).resolve().parent.parent  # the package folder
    inside = here / "prompts"
    return inside if inside.is_dir() else here.parent / "prompts"


def load_prompts(directory: Path | None = None) -> PromptSet:
    """Read and compile the three templates of `directory` (None: the packaged ones)."""
    where = directory if directory is not None else packaged_directory()
    if not where.is_dir():
        raise InputError(where, "prompt directory not found")
    sources: dict[str, str] = {}
    digest = hashlib.sha256()
    for name in TEMPLATES:
        path = where / name
        try:
            data = path.read_bytes()
            sources[name] = data.decode("utf-8")
        except FileNotFoundError as exc:
            needed = ", ".join(TEMPLATES)
            raise InputError(path, f"missing prompt template (a prompt directory needs {needed})") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"cannot read prompt template: {exc}") from exc
        digest.update(name.encode() + b"\0" + data + b"\0")
    env = jinja2.Environment(
        loader=jinja2.DictLoader(sources),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    for name in TEMPLATES:
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            message = f"prompt template syntax error: {exc.message}"
            raise InputError(where / name, message, line=exc.lineno) from exc
    return PromptSet(directory=where, sources=sources, version=digest.hexdigest()[:12], environment=env)
