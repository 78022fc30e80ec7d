"""Which summaries of a digest are broken, and why: pure functions over parsed entries.

A field is broken when it is empty, holds one of the strings pipelines write when the LLM call failed,
carries the trace of a LaTeX backslash eaten by a JSON escape (a plain line break is content), or is
written in another language than the digest's. Refusals are reported apart: some maintainers hide
such papers on purpose.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Iterable, Sequence
from itertools import chain, repeat

from pydantic import BaseModel, ConfigDict

from resummarize.digest.model import FIELDS, LEGACY_KEYS, Entry
from resummarize.errors import UsageError
from resummarize.language import Language, matches_many, plainly_written_each, prevailing
from resummarize.shapes import placeholder_shape, same_short_text

#: Every reason a field can be broken for. When several apply, the first of
#: empty > placeholder > corrupted > wrong_language is reported; `mismatched` (a summary that belongs to
#: another entry of the digest, see `grounding.py`) is judged only on entries with no other reason, and
#: is listed apart like a refusal: a guess from the other entries, acted on only when asked.
REASONS: tuple[str, ...] = ("placeholder", "empty", "wrong_language", "corrupted", "mismatched", "wrong_type")
#: What `scan --fail-on` can name: every field reason, plus refusals and papers the digest dropped.
FAIL_REASONS: tuple[str, ...] = (*REASONS, "refused", "missing")

#: What upstream writes instead of a summary the model refused to give.
REFUSAL = "This content has not passed the compliance test and has been hidden."

#: Strings pipelines write instead of a summary. A trailing `*` matches any field starting with the rest.
DEFAULT_PLACEHOLDERS: tuple[str, ...] = (
    "Summary generation failed",
    "Motivation analysis unavailable",
    "Method extraction failed",
    "Result analysis unavailable",
    "Conclusion extraction failed",
    "Processing failed",
    "Error",
    "Error: *",
    "错误：AI分析失败。",
    "深度总结生成失败",
    "No Summary Available.",
)

#: LaTeX commands starting with `n` (`\nabla`, `\nu`, ...): after a JSON parser eats `\n`, a line break
#: followed by one of these tails is damage. Any other line break is content (numbered lists, paragraphs).
NEWLINE_COMMANDS: tuple[str, ...] = (
    "abla", "u", "eq", "ot", "otin", "i", "ewline", "oindent", "mid", "leq", "geq", "orm", "olimits",
    "onumber", "atural", "ewcommand", "ewpage", "ewtheorem", "parallel", "exists", "eg", "subseteq",
    "supseteq", "subset", "supset", "sim", "simeq", "cong", "prec", "succ", "leftarrow", "rightarrow",
    "Leftarrow", "Rightarrow", "leftrightarrow", "vdash", "ormalsize", "ewenvironment",
)
#: The traces of an eaten escape: C0 controls except the line break (TAB, backspace, form feed, vertical
#: tab, ...), a CR that does not end a line, DEL and C1 controls, U+FFFD (bytes lost in decoding), and a
#: line break that is the rest of a LaTeX command. `\t`au, `\b`eta, `\f`rac, `\n`abla, `\r`ho end
#: up here. Only a newline or CR at either end is forgiven (a parser may leave one); a leading TAB is damage.
_DAMAGE = re.compile(
    r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]|\r(?!\n)"
    r"|\n(?:" + "|".join(sorted(NEWLINE_COMMANDS, key=len, reverse=True)) + r")(?![A-Za-z])"
)


def _normal(text: str) -> str:
    """The form placeholders are compared in: width, case, spacing and final full stop ignored."""
    folded = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return folded.rstrip(".\u3002!\uff01 ")  # full stops and exclamation marks, ASCII and CJK


def _initial(text: str) -> str:
    """First character of `_normal(text)`, cheaply: lets most fields skip normalising (~7 µs)."""
    first = text.lstrip()[:1]
    if first.isascii():
        return first.lower()
    if "\u4e00" <= first <= "\u9fff":  # unified ideographs: NFKC and casefold leave them as they are
        return first
    return unicodedata.normalize("NFKC", first).casefold()[:1]


_REFUSAL_KEY = _normal(REFUSAL)


#: The head `Placeholders.cannot_start` judges a field by, and how many distinct heads it remembers.
_HEAD = operator.itemgetter(slice(0, 3))
_MAX_HEADS = 100_000


class Placeholders:
    """The one list of placeholder strings: the known families plus whatever the user adds."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.patterns: tuple[str, ...] = (*DEFAULT_PLACEHOLDERS, *extra)
        exact: set[str] = set()
        prefixes: list[str] = []
        for pattern in self.patterns:
            is_prefix = pattern.rstrip().endswith("*")
            key = _normal(pattern.rstrip().removesuffix("*")) if is_prefix else _normal(pattern)
            if not key:
                raise UsageError(f"placeholder {pattern!r} would match every field")
            if is_prefix:
                prefixes.append(key)
            else:
                exact.add(key)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._initials = frozenset(key[0] for key in (*exact, *prefixes))
        # Normalising folds width, case and runs of spaces: a field far longer than every exact
        # placeholder can only be a prefix match, and only its head needs normalising.
        self._longest = 2 * max((len(key) for key in exact), default=0) + 8
        self._head = 2 * max((len(key) for key in prefixes), default=0) + 8
        self._quiet: dict[str, bool] = {}
        self._seen: dict[str, bool] = {}
        keys = (*exact, *prefixes, _REFUSAL_KEY)
        self._heads = frozenset(key[:2] for key in keys) if all(len(key) >= 2 for key in keys) else None

    def cannot_start(self, text: str) -> bool:
        """True when a stripped, non-empty field is neither a placeholder nor the refusal, judged on its
        head: two ASCII letters or digits followed by a third are their own normal form (lower-cased),
        and any other first character is normalised once per character seen."""
        head = text[:3]
        if self._heads is not None and len(head) == 3 and head.isascii() and head[1:].isalnum():
            return head[:2].lower() not in self._heads
        first = text[0]
        quiet = self._quiet.get(first)
        if quiet is None:
            initial = _initial(first)
            quiet = self._quiet[first] = initial not in self._initials and initial != _REFUSAL_KEY[0]
        return quiet

    def quiet_heads(self, texts: Sequence[str]) -> list[bool]:
        """`cannot_start` of each stripped text, asked once per distinct head over a run: it reads only
        the head, and of a head not all ASCII only the first character. An empty text gives False."""
        heads = [head if head.isascii() else head[:1] for head in map(_HEAD, texts)]
        known = self._seen
        if len(known) > _MAX_HEADS:
            known.clear()
        for head in set(heads).difference(known):
            known[head] = bool(head) and self.cannot_start(head)
        return list(map(known.__getitem__, heads))

    def matches(self, text: str, initial: str | None = None) -> bool:
        """True when the whole field is a placeholder (a summary that mentions "error" is not)."""
        if (_initial(text) if initial is None else initial) not in self._initials:
            return False
        if len(text) <= self._longest:
            key = _normal(text)
            return key in self._exact or key.startswith(self._prefixes)
        return bool(self._prefixes) and _normal(text[: self._head]).startswith(self._prefixes)

    def __repr__(self) -> str:
        extra = self.patterns[len(DEFAULT_PLACEHOLDERS) :]
        return f"Placeholders(extra={extra!r})"


class EntryVerdict(BaseModel):
    """What is wrong with one entry: its broken fields (file key -> reason) and whether it was refused."""

    model_config = ConfigDict(frozen=True)

    fields: dict[str, str]
    refused: bool
    #: The summary seems to belong to another entry of the digest (listed apart; see `grounding.py`).
    mismatched: bool = False

    @property
    def needs_repair(self) -> bool:
        return bool(self.fields)

    @property
    def whole_entry(self) -> bool:
        """A summary in the wrong language, or none left at all, is rewritten whole, not field by field."""
        return "wrong_language" in self.fields.values() or len(self.fields) >= len(FIELDS)


def is_refusal(text: str, initial: str | None = None) -> bool:
    """True for the compliance notice itself, not for a summary that talks about compliance."""
    first = _initial(text) if initial is None else initial
    return first == _REFUSAL_KEY[0] and len(text) < 2 * len(_REFUSAL_KEY) and _normal(text) == _REFUSAL_KEY


def _form_reason(text: str, placeholders: Placeholders, damage_possible: bool = True) -> str | None:
    """Everything but the language: empty, refused, placeholder or corrupted.

    `damage_possible=False` skips the control-character search when the caller already found none in
    the whole entry.
    """
    stripped = text.strip()
    if not stripped:
        return "empty"
    if not placeholders.cannot_start(stripped):  # most fields start like neither: no normalising
        initial = _initial(stripped)
        if is_refusal(stripped, initial):
            return "refused"
        if placeholders.matches(stripped, initial):
            return "placeholder"
    if placeholder_shape(stripped):
        return "placeholder"
    if damage_possible and _DAMAGE.search(text.strip(" \r\n")):
        return "corrupted"
    return None


_FIELD_SET = frozenset(FIELDS)
_CLEAN = EntryVerdict(fields={}, refused=False)  # the common case, shared (verdicts are frozen)


_OLD_NAMES = {name: key for key, name in LEGACY_KEYS.items()}
#: The key sets of an entry with exactly the five fields: today's names, and the old ones (`task`).
_FIVE_KEYS = (frozenset(FIELDS), frozenset(_OLD_NAMES.get(name, name) for name in FIELDS))


def plainly_clean(entries: Sequence[Entry], language: Language, placeholders: Placeholders) -> list[bool]:
    """For each entry, whether `check_entry` would find nothing, told by C-level passes over all the
    entries' fields at once (a Python call per field was most of a scan): the five fields, none blank,
    none starting like a placeholder or the refusal, no control character or U+FFFD, and plainly in the
    digest's language. False means look field by field."""
    five = [entry.fields.keys() in _FIVE_KEYS and not entry.wrong_types for entry in entries]
    chosen = (entry.fields.values() for entry, ok in zip(entries, five, strict=True) if ok)
    texts = list(map(str.strip, chain.from_iterable(chosen)))
    unmarked = placeholders.quiet_heads(texts)  # a field that may start like a placeholder is looked at whole
    # An unmarked head leaves only the shape to ask about; a marked one, the whole form (shape included).
    fits: list[Iterable[bool]] = [
        [not placeholder_shape(text) if fine else _form_reason(text, placeholders, False) is None
         for fine, text in zip(unmarked, texts, strict=True)],
        plainly_written_each(texts, language),
    ]
    joined = "".join(texts)
    if not joined.isprintable() or "\ufffd" in joined:
        fits.append(map(str.isprintable, texts))
        fits.append(map(operator.not_, map(operator.contains, texts, repeat("\ufffd"))))
    fields = map(all, zip(*fits, strict=True))
    five_texts = list(zip(*[iter(texts)] * len(FIELDS), strict=True))
    clean = iter([all(fits_) and not same_short_text(group)
                  for fits_, group in zip(zip(*[fields] * len(FIELDS), strict=True), five_texts, strict=True)])
    return [ok and next(clean) for ok in five]


def check_entry(entry: Entry, language: Language, placeholders: Placeholders) -> EntryVerdict:
    """Verdict on the five LLM fields of an entry; fields it lacks count as empty.

    Keys outside the five (after `task` -> `tldr`) are not summaries we write and are left alone.
    """
    broken: dict[str, str] = {}
    refused = False
    present: set[str] = set()
    prose: dict[str, str] = {}  # fields whose form is fine: their language is checked together
    joined = "".join(entry.fields.values())
    # One search, not five; text of printable characters only (no control character) and no U+FFFD
    # cannot hold damage, and the test of that is ~20x cheaper than the search.
    damage_possible = not (joined.isprintable() and "\ufffd" not in joined) and _DAMAGE.search(joined) is not None
    for key, text in entry.fields.items():
        name = LEGACY_KEYS.get(key, key)
        if name not in _FIELD_SET or name in present:
            continue
        present.add(name)
        if key in entry.wrong_types:  # a list, an object or a number: no page shows it as a summary
            broken[key] = "wrong_type"
            continue
        stripped = text.strip()
        reason = _form_reason(text, placeholders, damage_possible)
        if reason is None:
            prose[key] = stripped
        elif reason == "refused":
            refused = True
        else:
            broken[key] = reason
    if same_short_text(list(prose.values())):  # `?` or `No AI result` in all five fields
        broken.update(dict.fromkeys(prose, "placeholder"))
        prose = {}
    for key, fits in zip(prose, matches_many(list(prose.values()), language), strict=True):
        if not fits:
            broken[key] = "wrong_language"
    if broken:  # keep the entry's own field order
        broken = {key: broken[key] for key in entry.fields if key in broken}
    for name in FIELDS:
        if name not in present:
            broken[name] = "empty"
    if not broken and not refused:
        return _CLEAN
    return EntryVerdict.model_construct(fields=broken, refused=refused)  # built here, valid by construction


def written_in(entries: Iterable[Entry], placeholders: Placeholders) -> Language | None:
    """The language most entries are written in, judged on their fields that are neither empty,
    placeholders, refusals nor damaged; None when no entry has such a field."""
    texts = []
    for entry in entries:
        good = [text for text in entry.fields.values() if _form_reason(text, placeholders) is None]
        if good:
            texts.append("\n".join(good))
    return prevailing(texts)


def _bare_id(paper_id: str) -> str:
    """An arXiv id without its version suffix, so `2601.18800v2` and `2601.18800` are one paper."""
    text = paper_id.strip()  # `re.sub(r"v\d+$", "", text)`, without a regex: it runs on every id of a folder
    at = text.rfind("v")
    return text[:at] if at >= 0 and text[at + 1 :].isdecimal() else text


def missing_ids(enhanced: Iterable[str], raw: Iterable[str]) -> list[str]:
    """Ids of the raw crawl that the enhanced file dropped, in raw order, each once."""
    seen = {_bare_id(paper_id) for paper_id in enhanced}
    missing: list[str] = []
    for paper_id in raw:
        bare = _bare_id(paper_id)
        if bare not in seen:
            seen.add(bare)
            missing.append(paper_id)
    return missing
