"""The contract every stage shares: a digest is an ordered list of entries, each with five LLM fields.

Formats keep their own raw bytes; an `Entry` is the parsed view. Editing goes through the digest
(`Digest.set_fields`) so that the format can rewrite only the bytes it was asked to change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

#: Canonical names of the five LLM fields, in digest order.
FIELDS: tuple[str, ...] = ("tldr", "motivation", "method", "result", "conclusion")
#: Before April 2025 upstream wrote `task` where it now writes `tldr`.
LEGACY_KEYS: Mapping[str, str] = {"task": "tldr"}


def canonical(key: str) -> str:
    """The canonical field name of a file's own key (`task` -> `tldr`)."""
    return LEGACY_KEYS.get(key, key)


class Entry(BaseModel):
    """One paper of a digest, as parsed. `fields` uses the file's own keys, in the file's order."""

    id: str
    title: str = ""
    abstract: str = ""
    authors: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    fields: dict[str, str] = Field(default_factory=dict)
    #: Keys whose value in the file was not text (a list, an object, a number): shown as text here, but
    #: a reader's page shows `[object Object]`.
    wrong_types: tuple[str, ...] = ()
    #: 1-based line in the source file where the entry starts (for messages).
    line: int = 0

    def key_for(self, name: str) -> str:
        """The file's key for a canonical field name (`tldr` may be stored as `task`)."""
        for key in self.fields:
            if canonical(key) == name:
                return key
        return name


class Diagnostic(BaseModel):
    """A problem with one entry that does not stop the rest of the file from being used."""

    line: int
    id: str | None = None
    message: str


class Digest(ABC):
    """A parsed digest that can reproduce its source bytes exactly."""

    format: ClassVar[str]

    def __init__(self, path: Path | None, entries: list[Entry], diagnostics: list[Diagnostic]) -> None:
        self.path = path
        self.entries = entries
        self.diagnostics = diagnostics

    @abstractmethod
    def to_bytes(self) -> bytes:
        """The digest as bytes: identical to the source for every byte that was not edited."""

    @abstractmethod
    def set_fields(self, index: int, values: Mapping[str, str]) -> None:
        """Replace some LLM fields of `entries[index]` (file keys); only their bytes change."""

    def insert(self, position: int, entry: Entry, raw: Mapping[str, Any] | None = None) -> None:
        """Add a new entry before `entries[position]` (`raw`: the paper's crawl object, for keys an
        Entry does not carry); formats that cannot hold new papers refuse."""
        raise NotImplementedError(f"{self.format} digests cannot take new entries")

    @property
    def language_hint(self) -> str | None:
        """The digest language the file name declares (`..._AI_enhanced_Chinese.jsonl`), if any."""
        return None
