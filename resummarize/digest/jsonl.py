"""Enhanced JSONL digests (`DATE_AI_enhanced_<Language>.jsonl`): one paper object per line.

The raw line bytes are kept; an edit re-serialises only its own line, in the JSON style the file
already uses (`\\uXXXX` escapes as upstream writes them, or raw UTF-8 as forks do; default or compact
separators). Lines that are not paper objects are kept byte for byte and reported as diagnostics.
Entries are positional: duplicate ids occur in real files and are never merged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from resummarize.digest.model import FIELDS, Diagnostic, Digest, Entry, canonical
from resummarize.digest.names import BOM as _BOM
from resummarize.digest.names import LANGUAGE_IN_NAME
from resummarize.errors import InputError

_KEY_SEPARATOR = re.compile(r'\s*\{\s*"(?:[^"\\]|\\.)*"(\s*:\s*)')
#: Keys an inserted line always gets, whatever the file's first line holds.
_OWN_KEYS = frozenset({"id", "categories", "authors", "title", "summary", "AI"})


@dataclass(frozen=True)
class JsonStyle:
    """How a file serialises its objects, so a rewritten line looks like its neighbours."""

    ensure_ascii: bool = True
    item_separator: str = ", "
    key_separator: str = ": "

    def dumps(self, obj: Any) -> str:
        return json.dumps(
            obj, ensure_ascii=self.ensure_ascii, separators=(self.item_separator, self.key_separator)
        )


def detect_style(line: str, obj: Any, raw_utf8: bool) -> JsonStyle:
    """The style that reproduces `line` exactly; failing that, the separators the line appears to use."""
    for items, keys in ((", ", ": "), (",", ":")):
        style = JsonStyle(not raw_utf8, items, keys)
        if style.dumps(obj) == line.strip():
            return style
    match = _KEY_SEPARATOR.match(line)
    compact = match is not None and match.group(1) == ":"
    return JsonStyle(not raw_utf8, "," if compact else ", ", ":" if compact else ": ")


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return value
        return [item if isinstance(item, str) else str(item) for item in value]
    if value is None:
        return []
    return [value if isinstance(value, str) else str(value)]


def _text(value: Any) -> str:
    """Field text as detection sees it: strings as they are, null as empty, anything else via str()."""
    if isinstance(value, str):
        return value
    return "" if value is None else str(value)


def is_paper(obj: Any) -> bool:
    """A paper object is a JSON object with a non-empty string or integer `id`."""
    if not isinstance(obj, dict):
        return False
    paper_id = obj.get("id")
    return isinstance(paper_id, str | int) and not isinstance(paper_id, bool) and paper_id != ""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """`text` with lone surrogates (valid JSON escapes, invalid Unicode) spelled `\\udXXX`, for messages."""
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _texts(ai: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): _text(value) for key, value in ai.items()}


def entry_from(
    obj: dict[str, Any], line: int, *, enhanced: bool = True, fast: bool = False
) -> tuple[Entry, list[Diagnostic]]:
    """The parsed view of one paper object; problems that leave it usable become diagnostics.

    `fast`: the object is orjson's, with string `id`, `title` and `summary` (see `_read_paper`): its
    strings are valid Unicode, and a value of another type than upstream's raises `ValidationError`
    instead of being coerced."""
    ai = obj.get("AI")
    if fast:  # the common case, validated by pydantic alone (as fast as `model_construct`)
        fields = ai if type(ai) is dict else {}
        entry = Entry(id=obj["id"], title=obj["title"], abstract=obj["summary"], authors=obj.get("authors") or [],
                      categories=obj.get("categories") or [], fields=fields, line=line)
        return entry, [] if fields is ai else _ai_problems(obj, line, entry.id, enhanced)
    paper_id = _text(obj["id"])
    diagnostics = [] if isinstance(ai, dict) else _ai_problems(obj, line, paper_id, enhanced)
    if "summary" not in obj:
        diagnostics.append(Diagnostic(line=line, id=paper_id, message="no 'summary' (abstract)"))
    title, abstract = _text(obj.get("title")), _text(obj.get("summary"))
    for name, text in (("id", paper_id), ("title", title)):
        if not _encodable(text):
            diagnostics.append(Diagnostic(line=line, id=printable(paper_id),
                                          message=f"the {name} holds a lone surrogate: not valid Unicode"))
    fields = ai if isinstance(ai, dict) else {}
    try:  # upstream's types
        entry = Entry(id=paper_id, title=title, abstract=abstract, authors=obj.get("authors") or [],
                      categories=obj.get("categories") or [], fields=fields, line=line)
    except ValidationError:  # odd types in a fork's file: coerce them instead of refusing the paper
        entry = Entry(id=paper_id, title=title, abstract=abstract, authors=_strings(obj.get("authors")),
                      categories=_strings(obj.get("categories")), fields=_texts(fields), line=line,
                      wrong_types=tuple(str(key) for key, value in fields.items()
                                        if value is not None and not isinstance(value, str)))
    return entry, diagnostics


def _ai_problems(obj: dict[str, Any], line: int, paper_id: str, enhanced: bool) -> list[Diagnostic]:
    """What is wrong with an `AI` value that is not an object."""
    if "AI" in obj:
        return [Diagnostic(line=line, id=paper_id, message="'AI' is not an object")]
    return [Diagnostic(line=line, id=paper_id, message="no 'AI' object")] if enhanced else []


def _split(body: bytes) -> list[bytes]:
    """Lines without their `\\n` (a CRLF line keeps its `\\r`); joining with `\\n` gives the body back."""
    return body.split(b"\n")


def iter_objects(
    data: bytes, skip: Callable[[bytes], bool] | None = None
) -> Iterator[tuple[int, Any, str | None]]:
    """Per non-blank line: (0-based line index, parsed value or None, problem or None); lines `skip`
    says True for are not parsed (nor yielded)."""
    for index, line in enumerate(_split(data.removeprefix(_BOM))):
        if line.strip() and not (skip is not None and skip(line)):
            yield index, *_load_line(line)


class JsonlDigest(Digest):
    """An enhanced JSONL file: its lines as bytes plus the line number of every entry."""

    format = "jsonl"

    def __init__(
        self,
        path: Path | None,
        entries: list[Entry],
        diagnostics: list[Diagnostic],
        lines: list[bytes],
        entry_lines: list[int],
        bom: bytes = b"",
        raw_utf8: bool = False,
    ) -> None:
        super().__init__(path, entries, diagnostics)
        #: False for a raw crawl file: papers without `AI` summaries (set by `parse`).
        self.enhanced = True
        self._lines = lines
        self._entry_lines = entry_lines
        self._bom = bom
        self._raw_utf8 = raw_utf8
        self._style: JsonStyle | None = None

    @classmethod
    def parse(cls, data: bytes, path: Path | None = None) -> JsonlDigest:
        """Parse every line; a file with no paper object is refused. A raw crawl file (no `AI` object
        anywhere) parses too, with `enhanced` False: it round-trips, but has no summaries to judge."""
        bom = _BOM if data.startswith(_BOM) else b""
        lines = _split(data[len(bom) :])
        entries: list[Entry] = []
        diagnostics: list[Diagnostic] = []
        entry_lines: list[int] = []
        raw_utf8 = False
        enhanced = False
        for index, line in enumerate(lines):
            if not line or line.isspace():  # no copy of the line, unlike `strip`
                continue
            read = _read_paper(line, index + 1)
            if isinstance(read, str):
                diagnostics.append(Diagnostic(line=index + 1, message=f"{read}; line kept as it is"))
                continue
            obj, entry, found = read
            enhanced = enhanced or "AI" in obj
            raw_utf8 = raw_utf8 or not line.isascii()
            if "AI" not in obj:
                found.insert(0, Diagnostic(line=index + 1, id=entry.id, message="no 'AI' object"))
            entries.append(entry)
            entry_lines.append(index)
            diagnostics.extend(found)
        _check_usable(path, entries, diagnostics)
        if not enhanced:  # a raw crawl: every paper lacks `AI`, which is no problem of its lines
            diagnostics = [d for d in diagnostics if d.message != "no 'AI' object"]
        digest = cls(path, entries, diagnostics, lines, entry_lines, bom, raw_utf8)
        digest.enhanced = enhanced
        return digest

    @property
    def language_hint(self) -> str | None:
        match = LANGUAGE_IN_NAME.search(self.path.name) if self.path is not None else None
        return match.group(1) if match else None

    @property
    def style(self) -> JsonStyle:
        """The file's JSON style, detected from its first entry line on first use."""
        if self._style is None:
            line = self._lines[self._entry_lines[0]].decode("utf-8")
            self._style = detect_style(line, json.loads(line), self._raw_utf8)
        return self._style

    def to_bytes(self) -> bytes:
        return self._bom + b"\n".join(self._lines)

    def raw_object(self, index: int) -> dict[str, Any]:
        """The JSON object of `entries[index]`, freshly parsed from its line (keys in file order)."""
        obj: dict[str, Any] = json.loads(self._lines[self._entry_lines[index]].decode("utf-8"))
        return obj

    def set_fields(self, index: int, values: Mapping[str, str]) -> None:
        """Rewrite only this entry's line, in that line's own escaping style; keys may be canonical names
        (`tldr` finds a file's `task`). Keys the `AI` object lacked are put in the file's key order."""
        line = self._entry_lines[index]
        style = _line_style(self.style, self._lines[line])
        obj = self.raw_object(index)
        ai = obj.get("AI")
        if not isinstance(ai, dict):
            ai = obj["AI"] = {}
        had = len(ai)
        entry = self.entries[index]
        for key, value in values.items():
            file_key = _file_key(ai, key)
            ai[file_key] = value
        if len(ai) != had:
            order = field_keys(self.entries)
            ai = obj["AI"] = {k: ai[k] for k in (*[k for k in order if k in ai], *[k for k in ai if k not in order])}
        entry.fields = _texts(ai)
        cr = b"\r" if self._lines[line].endswith(b"\r") else b""
        self._lines[line] = style.dumps(obj).encode("utf-8") + cr

    def insert(self, position: int, entry: Entry, raw: Mapping[str, Any] | None = None) -> None:
        """Add a paper line before `entries[position]`, shaped like the file's first entry line.

        `raw` (e.g. the paper's object from the raw crawl file) supplies keys an `Entry` does not
        carry, such as `comment`; the entry's own data wins over it.
        """
        if not 0 <= position <= len(self.entries):
            raise IndexError(f"insert position {position} outside 0..{len(self.entries)}")
        style = self.style
        template = self.raw_object(0)
        obj = _new_object(template, entry, raw or {})
        new_entry, _ = entry_from(obj, 0)
        text = style.dumps(obj).encode("utf-8")
        cr = b"\r" if self._crlf() else b""
        if position < len(self.entries):
            at = self._entry_lines[position]
            text += cr
        else:
            at = self._entry_lines[-1] + 1
            if at == len(self._lines):  # no final newline: the old last line gets one, the new one none
                self._lines[-1] += cr
            else:
                text += cr
        self._lines.insert(at, text)
        self._entry_lines[position:] = [line + 1 for line in self._entry_lines[position:]]
        self._entry_lines.insert(position, at)
        self.entries.insert(position, new_entry)

    def _crlf(self) -> bool:
        """Whether the file ends its lines with CRLF (judged by its first terminated line)."""
        return len(self._lines) > 1 and self._lines[0].endswith(b"\r")


_DECODER = json.JSONDecoder()
_UNICODE_ESCAPE = re.compile(rb"\\u[0-9A-Fa-f]{4}")


def _line_style(style: JsonStyle, line: bytes) -> JsonStyle:
    """The file's style, with the escaping of this line: a file may mix `\\uXXXX` lines and raw UTF-8 ones."""
    if not line.isascii():
        return replace(style, ensure_ascii=False)
    if _UNICODE_ESCAPE.search(line):
        return replace(style, ensure_ascii=True)
    return style


def field_keys(entries: Sequence[Entry]) -> tuple[str, ...]:
    """The file's own keys for the five LLM fields, in its order (`task` in old files), taken from the
    first entry that has all five; the canonical names when none has."""
    for entry in entries:
        keys = tuple(key for key in entry.fields if canonical(key) in FIELDS)
        if len(keys) == len(FIELDS) and {canonical(key) for key in keys} == set(FIELDS):
            return keys
    return FIELDS


def _load_line(line: bytes) -> tuple[Any, str | None]:
    """One JSON value per line; `raw_decode` spares `json.loads`' per-call wrapper on the hot path."""
    try:
        text = line.decode("utf-8")
        obj, end = _DECODER.raw_decode(text, len(text) - len(text.lstrip()))
        if text[end:].strip():
            raise ValueError(f"extra data after the JSON value at column {end + 1}")
        return obj, None
    except UnicodeDecodeError:
        return None, "line is not UTF-8"
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON ({exc})"


def _read_paper(line: bytes, number: int) -> str | tuple[dict[str, Any], Entry, list[Diagnostic]]:
    """A line's paper object and entry, or why the line is not one.

    orjson reads in a third of the standard parser's time (most of a scan's parsing). It refuses what
    it cannot read as the standard parser does (lone surrogates, NaN, a control character in a
    string), and reads one thing differently: an integer beyond 64 bits becomes a float. So its object
    is used only when every value the entry takes is a plain string (pydantic refuses a float where a
    string belongs); any other line is read by the standard parser, as it always was. Lines are
    rewritten from the standard parser's object (`raw_object`), never from orjson's."""
    try:
        obj = orjson.loads(line)
        if type(obj) is dict and type(obj.get("id")) is str and obj["id"] != "" \
                and type(obj.get("title")) is str and type(obj.get("summary")) is str:
            return obj, *entry_from(obj, number, enhanced=False, fast=True)
    except (orjson.JSONDecodeError, ValidationError):
        pass
    obj, problem = _load_line(line)
    if problem is None and not is_paper(obj):
        problem = "not a paper object (a JSON object with an 'id')"
    if problem is not None:
        return problem
    return obj, *entry_from(obj, number, enhanced=False)


def _check_usable(path: Path | None, entries: list[Entry], diagnostics: list[Diagnostic]) -> None:
    if not entries:
        first = diagnostics[0] if diagnostics else None
        detail = f" (line {first.line}: {first.message})" if first else ""
        raise InputError(
            path, f"not a digest: no line is a paper object{detail}", line=first.line if first else None
        )


def _file_key(ai: Mapping[str, Any], key: str) -> str:
    """The AI object's own key for `key`: itself if present, else the key with the same canonical name."""
    if key in ai:
        return key
    name = canonical(key)
    for existing in ai:
        if canonical(existing) == name:
            return str(existing)
    return key


def _new_object(template: Mapping[str, Any], entry: Entry, raw: Mapping[str, Any]) -> dict[str, Any]:
    """A paper object in the template's key order, AI keys included; new keys go before `AI`."""
    template_ai = template.get("AI")
    ai: dict[str, str] = {}
    for key in template_ai if isinstance(template_ai, dict) else ():
        for own in entry.fields:
            if own == key or canonical(own) == canonical(key):
                ai[key] = entry.fields[own]
                break
    for own, value in entry.fields.items():
        if own not in ai and _file_key(ai, own) == own:
            ai[own] = value
    values: dict[str, Any] = {
        "pdf": f"https://arxiv.org/pdf/{entry.id}",
        "abs": f"https://arxiv.org/abs/{entry.id}",
        "comment": None,
        **raw,
        "id": entry.id,
        "categories": list(entry.categories),
        "authors": list(entry.authors),
        "title": entry.title,
        "summary": entry.abstract,
        "AI": ai,
    }
    order = [key for key in template if key in values]
    extra = [key for key in values if key not in order and (key in raw or key in _OWN_KEYS)]
    if "AI" in order:
        at = order.index("AI")
        order[at:at] = extra
    else:
        order.extend(extra)
    return {key: values[key] for key in order}
