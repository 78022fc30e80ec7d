"""The evidence phrase: does an answer show, by quoting its abstract, that it is about this paper?

The model copies a short phrase from the abstract it was given; a well-written answer about the wrong
paper (a cached answer under the wrong key, a batch line matched to the wrong entry, a model that drifted
onto the previous paper) carries a phrase of another abstract. Models do not copy byte for byte, so the
phrase is compared as a reader compares: after Unicode NFKC, case folding, quotes and dashes folded,
whitespace and line-break hyphenation (`multi-\\nagent`) undone, and LaTeX symbols read as what they print
(`$\\alpha$` is `α`, `$99.5\\%$` is `99.5%`); found with a small edit distance (rapidfuzz); fragments
joined by `…` each found; CJK characters counted one by one. Measured in `bench/evidence.py` (figures in
BENCHMARKS.md).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from pylatexenc.latex2text import get_default_latex_context_db
from rapidfuzz import fuzz

from resummarize.language import CJK_CHARACTER

#: The evidence phrase: long enough that another abstract does not contain it by chance, short enough
#: to stay a quotation rather than a copy of the abstract.
EVIDENCE_WORDS = (6, 40)
#: The same bounds in characters, for a phrase in Chinese or Japanese (no spaces between words).
EVIDENCE_CHARACTERS = (10, 80)
#: The answer key that carries the evidence phrase; it is checked and dropped, never written to a digest.
EVIDENCE_KEY = "evidence"
#: A phrase whose best alignment in the abstract scores this much (rapidfuzz's partial ratio, 0-100: 90 is
#: about one edit in ten characters) was copied from it; set by `bench/evidence.py` (swapped answers
#: accepted <= 1 %).
COPIED = 90
#: From this score on, the phrase was meant as a copy of this abstract: the re-ask says "copy it exactly".
CLOSE = 75
#: An evidence phrase may be this many fragments joined by an ellipsis, each of at least MIN_FRAGMENT units.
MAX_FRAGMENTS, MIN_FRAGMENT = 3, 3
_ELLIPSIS = re.compile(r"\s*(?:\.\s*){3,}\s*")  # `…` after NFKC, `...`, `. . .`
# A dash or a run of them (LaTeX writes `--` and `---`), with the spaces around it: `multi-\nagent`,
# `A -- B` and `A—B` all read `multi-agent`, `A-B`.
_DASHES = re.compile(r"\s*[-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+\s*")
_QUOTES = str.maketrans({c: "'" for c in "\u2018\u2019\u201a\u201b\u2032`"}
                        | {c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"})
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+|[%&#$_{}])")
#: What LaTeX macros print (`\\alpha` is `α`), from pylatexenc's table.
_LATEX_MACROS = get_default_latex_context_db()
_LATEX_MARKS = str.maketrans("", "", "${}")
_QUOTED = " \t\n\"'\u201c\u201d\u2018\u2019.\u3002"  # what may wrap a quoted phrase


def evidence_problem(evidence: object, title: str, abstract: str, others: Iterable[str] = ()) -> str | None:
    """Why an evidence phrase does not show that the answer is about this paper, or None when it does.
    `others` are other papers' titles and abstracts (of the same run): only a phrase found in one of them
    is called "about another paper"; any other miss asks for an exact copy.

    The message is an instruction: it goes back to the model in a re-ask."""
    key = f'Field "{EVIDENCE_KEY}"'
    low, high = EVIDENCE_WORDS
    if not isinstance(evidence, str) or not evidence.strip():
        return (f'{key} is missing: copy one phrase of {low} to {high} words verbatim from this abstract '
                "that supports the tldr.")
    parts = _fragments(evidence)
    units, cjk = _size(parts)
    low, high = EVIDENCE_CHARACTERS if cjk else EVIDENCE_WORDS
    what = "characters" if cjk else "words"
    if not (low <= units <= high and len(parts) <= MAX_FRAGMENTS):
        return (f"{key} has {units} {what}{f' in {len(parts)} fragments' if len(parts) > 1 else ''}: "
                f"copy one phrase of {low} to {high} {what} verbatim from this abstract.")
    source = comparable(f"{title} {abstract}")
    if comparable(evidence.strip(_QUOTED)) in source:  # whole, an ellipsis of the abstract's own included
        return None
    fragments = [(comparable(part.strip(_QUOTED)), _units(part) >= MIN_FRAGMENT) for part in parts]
    scores = {part: _score(part, source) for part, long in fragments if long}
    missing = [part for part, long in fragments if not long or scores[part] < COPIED]
    if not missing:
        return None
    if any(_score(part, comparable(other)) >= COPIED for part, long in fragments if long and part in missing
           for other in others):
        return (f"{key} is a phrase of another paper's abstract: the answer may be about another paper. "
                "Summarise this paper (see its title and abstract) and copy the phrase from its abstract.")
    near = all(long for _, long in fragments) and all(scores[part] >= CLOSE for part in missing)
    return (f"{key} is {'close to, but not' if near else 'not'} a phrase of this paper's abstract: copy one "
            f"phrase of {low} to {high} {what} from the abstract exactly, as it is written.")


def evidence_sized(evidence: str) -> bool:
    """Whether a phrase has the length asked for: EVIDENCE_WORDS words (EVIDENCE_CHARACTERS characters in
    Chinese or Japanese), in at most MAX_FRAGMENTS fragments."""
    parts = _fragments(evidence)
    units, cjk = _size(parts)
    low, high = EVIDENCE_CHARACTERS if cjk else EVIDENCE_WORDS
    return low <= units <= high and len(parts) <= MAX_FRAGMENTS


def _size(parts: list[str]) -> tuple[int, bool]:
    """A phrase's length in units (`_units`), and whether it is CJK (then counted in characters)."""
    return sum(_units(part) for part in parts), any(CJK_CHARACTER.search(part) for part in parts)


def _fragments(evidence: str) -> list[str]:
    """The pieces of a phrase joined by an ellipsis (one piece without)."""
    return [part for part in _ELLIPSIS.split(unicodedata.normalize("NFKC", evidence).strip(_QUOTED)) if part.strip()]


@lru_cache(maxsize=1024)
def comparable(text: str) -> str:
    """`text` in the form evidence is compared in: NFKC, LaTeX symbols as they print (`\\alpha` -> `α`,
    `\\%` -> `%`, other commands dropped, `$`, `{`, `}` gone), quotes and dashes folded, a line break after
    a hyphen undone (`multi-\\nagent` -> `multi-agent`), whitespace collapsed, case folded. Cached: the
    five re-asks of an answer and the entries of a run compare against the same abstracts."""
    text = _LATEX_COMMAND.sub(_latex_symbol, unicodedata.normalize("NFKC", text)).translate(_LATEX_MARKS)
    text = _DASHES.sub("-", text.translate(_QUOTES))
    return " ".join(text.split()).casefold()


def _latex_symbol(match: re.Match[str]) -> str:
    """What a LaTeX command prints, from pylatexenc's table of macros; a command it does not print as plain
    text (`\\textit`, `\\mathcal`) leaves its argument alone."""
    name = match.group(1)
    if not name.isalpha():
        return name  # an escaped character: `\\%` is `%`
    spec = _LATEX_MACROS.get_macro_spec(name)
    replacement = getattr(spec, "simplify_repl", None)
    return replacement if isinstance(replacement, str) and "%" not in replacement else " "


def _units(text: str) -> int:
    """Words (with a letter or digit: a dash is none), a CJK character counting as one (Chinese and
    Japanese put no spaces between words)."""
    words = CJK_CHARACTER.sub(" ", text).split()
    return len(CJK_CHARACTER.findall(text)) + sum(1 for word in words if any(c.isalnum() for c in word))


def _score(fragment: str, source: str) -> float:
    """How well `fragment` is found in `source`: 100 when it is there, less per edit (both comparable)."""
    if fragment in source:
        return 100.0
    if len(fragment) > len(source):
        return 0.0
    return float(fuzz.partial_ratio(fragment, source))
