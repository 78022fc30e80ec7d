"""Markdown digests as upstream's converter writes them, parsed by structure and written back byte for byte.

The text is cut into pieces at every LLM field value. Editing a field replaces its piece and nothing
else, so every other byte (newline style, BOM, odd spacing, text we do not understand) survives.

An entry runs from its `### [n] [title](url)` header to its `</details>` line. A field value is the
text after `Label: ` up to the end of the line, plus any continuation lines that follow it (non-blank
lines that are not another label, `Main category:` or a details tag); continuation lines are joined
with `\\n` in `Entry.fields` and a new value replaces all of them. The abstract runs from `Abstract: `
to the last non-blank line before `</details>` and may hold anything, including label-like lines.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from resummarize.digest.model import FIELDS, Diagnostic, Digest, Entry, canonical
from resummarize.digest.names import BOM, LANGUAGE_IN_NAME
from resummarize.errors import InputError

#: The label each canonical field carries in a markdown digest.
LABELS: Mapping[str, str] = {
    "tldr": "TL;DR",
    "motivation": "Motivation",
    "method": "Method",
    "result": "Result",
    "conclusion": "Conclusion",
}
_BY_LABEL = {label: name for name, label in LABELS.items()}
_ABSTRACT = "Abstract"
_CATEGORY = "Main category:"
_DETAILS_TAGS = frozenset({"<details>", "<summary>Details</summary>"})
_BOM = BOM.decode("utf-8")

#: `### [n] [title](url)`; the greedy title makes the url the last `](...)` on the line.
HEADER = re.compile(r"### \[(\d+)\] \[(.*)\]\((\S*)\)[ \t]*")
_LABEL = re.compile(r"(TL;DR|Motivation|Method|Result|Conclusion|Abstract):")
_ARXIV_ID = re.compile(r"arxiv\.org/abs/([^\s?#]+?)(?:v\d+)?/?$")
_NEWLINE = re.compile("\n")


@dataclass
class _Span:
    """Where a field value sits in the text; `before`/`after` wrap a new value (missing fields, `TL;DR:`)."""

    name: str
    start: int
    end: int
    before: str = ""
    after: str = ""


@dataclass
class _Slot:
    piece: int
    before: str
    after: str


class _Lines:
    """Line table over the text: a line ends at `\\n`; a `\\r` before it belongs to the line ending."""

    def __init__(self, text: str, first: int) -> None:
        self.text = text
        starts = [first]
        starts.extend(m.end() for m in _NEWLINE.finditer(text, first))
        if len(starts) > 1 and starts[-1] == len(text):
            starts.pop()
        self.starts = starts
        self.ends: list[int] = []
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(text)
            if end > start and text[end - 1] == "\n":
                end -= 1
                if end > start and text[end - 1] == "\r":
                    end -= 1
            self.ends.append(end)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> str:
        return self.text[self.starts[index] : self.ends[index]]

    def newline(self, index: int) -> str:
        ending = self.text[self.ends[index] : self.ends[index] + 2]
        return "\r\n" if ending.startswith("\r\n") else "\n"


@dataclass
class _EntryParser:
    """State while reading one entry: which field is open, where each label line starts."""

    lines: _Lines
    header: int
    spans: dict[str, _Span] = field(default_factory=dict)
    anchors: dict[str, int] = field(default_factory=dict)
    current: _Span | None = None
    abstract: tuple[int, int] | None = None
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    def feed(self, index: int, text: str, stripped: str) -> None:
        if self.abstract is not None:
            if stripped:
                self.abstract = (self.abstract[0], self.lines.ends[index])
            return
        label = _LABEL.match(text)
        if label:
            self._open(index, label.group(1), text)
        elif not stripped or stripped in _DETAILS_TAGS:
            self.current = None
            if stripped == "<details>":
                self.anchors.setdefault("details", self.lines.starts[index])
        elif self.current is not None:
            self.current.end = self.lines.ends[index]
        elif text.startswith(_CATEGORY):
            self.categories = [text[len(_CATEGORY) :].strip()]
        elif index == self.header + 1 and len(stripped) >= 2 and stripped[0] == stripped[-1] == "*":
            self.authors = [name.strip() for name in stripped[1:-1].split(",") if name.strip()]

    def _open(self, index: int, label: str, text: str) -> None:
        self.current = None
        start = self.lines.starts[index] + len(label) + 1
        before = ""
        if text[len(label) + 1 : len(label) + 2] == " ":
            start += 1
        else:
            before = " "
        name = _BY_LABEL.get(label, "abstract")
        if name in self.anchors:
            self.diagnostics.append(
                Diagnostic(line=index + 1, message=f"second '{label}:' line in one entry; the first is used")
            )
            return
        self.anchors[name] = self.lines.starts[index]
        if name == "abstract":
            self.abstract = (start, self.lines.ends[index])
            return
        self.current = _Span(name, start, self.lines.ends[index], before=before)
        self.spans[name] = self.current

    def finish(self, closing: int) -> tuple[Entry, list[_Span]]:
        lines = self.lines
        number, title, url = _split_header(lines[self.header])
        match = _ARXIV_ID.search(url)
        paper_id = match.group(1) if match else url
        line = self.header + 1
        if not match:
            self.diagnostics.append(Diagnostic(line=line, id=url, message=f"no arXiv id in link {url!r}"))
        abstract = ""
        if self.abstract is None:
            self.diagnostics.append(
                Diagnostic(line=line, id=paper_id, message=f"entry [{number}] has no abstract")
            )
        else:
            abstract = _value(lines.text, *self.abstract)
        for diagnostic in self.diagnostics:
            diagnostic.id = diagnostic.id or paper_id
        spans = [*self.spans.values(), *self._missing(closing)]
        entry = Entry(
            id=paper_id,
            title=title,
            abstract=abstract,
            authors=self.authors,
            categories=self.categories,
            fields={span.name: _value(lines.text, span.start, span.end) for span in self.spans.values()},
            line=line,
        )
        return entry, spans

    def _missing(self, closing: int) -> list[_Span]:
        """Empty spans where absent fields would go, so that `set_fields` can add them in place."""
        newline = self.lines.newline(self.header)
        order = [*FIELDS, "abstract"]
        missing = []
        for rank, name in enumerate(FIELDS):
            if name in self.spans:
                continue
            later = [self.anchors[n] for n in order[rank + 1 :] if n in self.anchors]
            if name == "tldr" and "details" in self.anchors:
                later.insert(0, self.anchors["details"])
            at = later[0] if later else self.lines.starts[closing]
            gap = 3 if name == "tldr" and later and at == self.anchors.get("details") else 2
            missing.append(_Span(name, at, at, before=f"{LABELS[name]}: ", after=newline * gap))
        return missing


def _split_header(text: str) -> tuple[str, str, str]:
    match = HEADER.fullmatch(text)
    if match is None:  # pragma: no cover - callers only pass matching lines
        raise ValueError(f"not an entry header: {text!r}")
    return match.group(1), match.group(2), match.group(3)


def _value(text: str, start: int, end: int) -> str:
    return text[start:end].replace("\r\n", "\n")


class MarkdownDigest(Digest):
    """A markdown digest: the text as pieces, with one piece per LLM field value."""

    format = "markdown"

    @property
    def language_hint(self) -> str | None:
        """`DATE.md` beside `DATE_AI_enhanced_<Language>.jsonl` is that language's digest: upstream
        renders one from the other, so they must be judged alike."""
        if self.path is None:
            return None
        siblings = self.path.parent.glob(f"{glob.escape(self.path.stem)}_AI_enhanced_*.jsonl")
        languages = {match.group(1) for sibling in siblings if (match := LANGUAGE_IN_NAME.search(sibling.name))}
        return languages.pop() if len(languages) == 1 else None

    def __init__(
        self,
        path: Path | None,
        entries: list[Entry],
        diagnostics: list[Diagnostic],
        pieces: list[str],
        slots: list[dict[str, _Slot]],
    ) -> None:
        super().__init__(path, entries, diagnostics)
        self._pieces = pieces
        self._slots = slots

    @classmethod
    def parse(cls, data: bytes, path: Path | None = None) -> MarkdownDigest:
        """Parse a whole markdown digest; structural damage raises `InputError` naming the line."""
        text = _decode(data, path)
        lines = _Lines(text, 1 if text.startswith(_BOM) else 0)
        entries: list[Entry] = []
        diagnostics: list[Diagnostic] = []
        per_entry: list[list[_Span]] = []
        index = 0
        while index < len(lines):
            line = lines[index]
            if not (line.startswith("### [") and HEADER.fullmatch(line)):
                if line.startswith("### ["):
                    diagnostics.append(_unreadable_header(index))
                index += 1
                continue
            parser, index = _read_entry(lines, path, index)
            entry, spans = parser.finish(index)
            entries.append(entry)
            per_entry.append(spans)
            diagnostics.extend(parser.diagnostics)
            index += 1
        if not entries:
            raise InputError(path, "not a digest: no '### [n] [title](url)' entries")
        pieces, slots = _cut(text, per_entry)
        return cls(path, entries, diagnostics, pieces, slots)

    def to_bytes(self) -> bytes:
        return "".join(self._pieces).encode("utf-8")

    def set_fields(self, index: int, values: Mapping[str, str]) -> None:
        """Splice new one-line values into the field pieces; all values are checked before any is written."""
        slots = self._slots[index]
        for key, value in values.items():
            if canonical(key) not in slots:
                raise KeyError(f"markdown digests have no field {key!r}")
            if "\n" in value or "\r" in value:
                raise ValueError(f"field {key!r}: a markdown field value must be one line")
        entry = self.entries[index]
        for key, value in values.items():
            name = canonical(key)
            slot = slots[name]
            self._pieces[slot.piece] = slot.before + value + slot.after
            entry.fields[name] = value
        entry.fields = {name: entry.fields[name] for name in FIELDS if name in entry.fields}


def _decode(data: bytes, path: Path | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(path, "not UTF-8 text: binary file or another encoding", line=line) from exc


def _unreadable_header(index: int) -> Diagnostic:
    """A line that starts like an entry header but is not one: its entry cannot be read, say so."""
    return Diagnostic(line=index + 1, message="unreadable entry header (not '### [n] [title](url)'); "
                      "this entry is skipped")


def _read_entry(lines: _Lines, path: Path | None, header: int) -> tuple[_EntryParser, int]:
    """Feed the lines of the entry starting at `header`; return the parser and its `</details>` line."""
    parser = _EntryParser(lines, header)
    for index in range(header + 1, len(lines)):
        text = lines[index]
        stripped = text.strip()
        if stripped == "</details>":
            return parser, index
        if text.startswith("### [") and HEADER.fullmatch(text):
            raise InputError(
                path,
                f"entry starting at line {header + 1} has no </details> before the next entry "
                f"(line {index + 1}): damaged or truncated digest",
                line=header + 1,
            )
        if text.startswith("### ["):
            parser.diagnostics.append(_unreadable_header(index))
        parser.feed(index, text, stripped)
    raise InputError(
        path,
        f"file ends inside the entry starting at line {header + 1} (no </details>): truncated digest",
        line=header + 1,
    )


def _cut(text: str, per_entry: list[list[_Span]]) -> tuple[list[str], list[dict[str, _Slot]]]:
    """Split the text at every span so that each field value is a piece of its own."""
    order = {name: rank for rank, name in enumerate(FIELDS)}
    pieces: list[str] = []
    slots: list[dict[str, _Slot]] = []
    position = 0
    for spans in per_entry:
        entry_slots: dict[str, _Slot] = {}
        for span in sorted(spans, key=lambda s: (s.start, order[s.name])):
            pieces.append(text[position : span.start])
            entry_slots[span.name] = _Slot(len(pieces), span.before, span.after)
            pieces.append(text[span.start : span.end])
            position = span.end
        slots.append(entry_slots)
    pieces.append(text[position:])
    return pieces, slots
