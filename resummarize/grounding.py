"""Does a summary belong to its paper? Pure checks over text, for repair and for scan.

A well-written summary of the wrong paper passes every check of form and language: a cached answer under
the wrong key, a batch line matched to the wrong entry, a model that drifted onto the previous paper. Two
signals catch it:

- the evidence phrase: the model copies a short phrase verbatim from the abstract it was given; a
  swapped answer carries a phrase of another abstract (checked exactly, after whitespace normalisation);
- distinctive terms: the Latin-script names, acronyms and figures of a summary are those of its own
  abstract. In a digest, a summary whose terms are missing from its own abstract but present in another
  entry's abstract is that entry's summary, shifted (Chinese summaries keep model and data-set names as
  written, so the signal works across languages). Judged against the whole digest, not one abstract:
  a shift leaves a trail (the entry whose summary was taken holds someone else's), which finds the
  summaries without a distinctive term of their own.

Measured on real summaries in `bench/grounding.py` (figures in BENCHMARKS.md).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The evidence phrase: long enough that another abstract does not contain it by chance, short enough
#: to stay a quotation rather than a copy of the abstract.
EVIDENCE_WORDS = (6, 40)
#: The answer key that carries the evidence phrase; it is checked and dropped, never written to a digest.
EVIDENCE_KEY = "evidence"

# Latin-script words (model and data-set names, acronyms, terms) and figures with a decimal part or
# two digits or more. Hyphenated names split into their parts: `Hahn-KAN` is `hahn` and `kan`.
# One character class first, so the engine skips Chinese text fast (the alternation alone is 3x slower).
_TOKEN = re.compile(r"(?a)[^\W_](?:(?<=[A-Za-z])[A-Za-z0-9]*|(?<=\d)\d*(?:\.\d+|[A-Za-z][A-Za-z0-9]*)?)")
_STOP_WORDS = """
a about above across after again against all also although among an and another any are as at be
because been before being between both but by can could did do does done due during each either
else et etc even every for from further had has have having here how however if in into is it its
itself just less many may might more most much must neither no nor not now of off often on once one
only or other others our out over own per rather same several shall should since so some such than
that the their them then there therefore these they this those though through thus to too two under
until up upon us using very via was we well were what when where whether which while who whose why
will with within without would yet you your new novel propose proposed proposes paper approach
approaches method methods based show shows shown results result work study use used sota
"""
_STOP = frozenset(_STOP_WORDS.split())


def normalise(text: str) -> str:
    """Whitespace collapsed to single spaces: the form in which an evidence phrase must match."""
    return " ".join(text.split())


def terms(text: str) -> frozenset[str]:
    """The distinctive-looking terms of `text`, lower-cased: words of 3+ letters (not function words),
    upper-case acronyms of two letters (`RL`), and figures (`12.5`, `2024`, `3DGS`). A plural is its
    singular (`models` is `model`)."""
    # Set operations, not a loop over tokens: this runs on every summary of every scan. A figure
    # (`12`, `1.5`, `3DGS`) needs two characters: one digit alone says nothing.
    kept = {token.lower() for token in set(_TOKEN.findall(text))
            if len(token) > 2 or (len(token) == 2 and (token.isupper() or token[0].isdigit()))}
    kept -= _STOP
    return frozenset(
        word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" and not word[0].isdigit() else word
        for word in kept)


def overlap(summary_terms: frozenset[str], source: str) -> float | None:
    """Share of the summary's terms found in `source` (None: the summary has no term to judge by).

    Containment, not token equality: `model` is found in `models`, `KAN` in `Hahn-KAN`."""
    if not summary_terms:
        return None
    lowered = source.lower()
    return sum(1 for term in summary_terms if _contains(lowered, term)) / len(summary_terms)


def _loose(term: str) -> bool:
    """Long words match inside others (`model` in `models`); short ones and figures only whole
    (`RL` is not in `world`, `12` is not in `2012`)."""
    return len(term) > 3 and not term[0].isdigit()


def _whole_at(text: str, at: int, term: str) -> bool:
    """`term` found at `at` is a whole word or figure."""
    end = at + len(term)
    before, after = text[at - 1 : at] if at > 0 else " ", text[end : end + 1]
    if term[0].isdigit():  # `12` is in `12x` and `12%`, not in `2012`, `12.5` or `1.12`
        if after == ".":
            after = text[end + 1 : end + 2]
        return not (before.isdigit() or before == "." or after.isdigit())
    if after == "s":  # a plural: `KANs`
        after = text[end + 1 : end + 2]
    return not (before.isalnum() or after.isalnum())


def _contains(lowered: str, term: str) -> bool:
    return term in lowered if _loose(term) else _whole_in(lowered, term)


def evidence_problem(evidence: object, title: str, abstract: str) -> str | None:
    """Why an evidence phrase does not show that the answer is about this paper, or None when it does.

    The message is an instruction: it goes back to the model in a re-ask."""
    key = f'Field "{EVIDENCE_KEY}"'
    low, high = EVIDENCE_WORDS
    if not isinstance(evidence, str) or not evidence.strip():
        return (f'{key} is missing: copy one phrase of {low} to {high} words verbatim from this abstract '
                "that supports the tldr.")
    phrase = normalise(evidence).strip(" \"'“”‘’")
    words = len(phrase.split())
    if words < low or words > high:
        return f"{key} has {words} words: copy one phrase of {low} to {high} words verbatim from this abstract."
    if phrase.rstrip(".") not in normalise(f"{title} {abstract}"):
        return (f"{key} is not a verbatim phrase of this paper's abstract: the answer may be about another "
                "paper. Summarise this paper (see its title and abstract) and copy the phrase exactly.")
    return None


@dataclass(frozen=True)
class Shift:
    """A summary that belongs to another entry of the digest: `index` holds `neighbour`'s summary
    (None: whose is unknown, but `index`'s own summary was found at another entry). `own` and `theirs`
    are the shares of the summary's term weight in its own source and in the neighbour's."""

    index: int
    neighbour: int | None
    own: float
    theirs: float


#: Mismatch thresholds, set on the corpus by `bench/grounding.py` (no correct summary of the corpus is
#: flagged): at most OWN_MAX of the summary's term weight is in its own source, at least NEIGHBOUR_MIN
#: in the neighbour's, and the terms the neighbour holds but the own source lacks weigh MISSING_MIN (one
#: term found in about one abstract in fifty, or two rarer than one in seven).
OWN_MAX = 0.5
NEIGHBOUR_MIN = 0.4
MISSING_MIN = 4.0
#: Only summaries with at most this share of their terms (unweighted, as substrings) in their own source
#: are weighed against the digest, the costly part: on the corpus, 10 of 2,484 good summaries; every
#: rotated summary the rules below catch at 0.7 is still caught at 0.5.
CANDIDATE_MAX = 0.5
#: An entry whose own summary was found at another entry is flagged too when its present summary has
#: less than DISPLACED_MAX of its term weight in its own source, or less than DISPLACED_WEIGHT in all
#: (no term rarer than about one abstract in ten: `LLM` alone does not show a summary is its own): in
#: a rotation no entry keeps its summary, and this catches those whose new summary has no distinctive
#: term (on the corpus 3.9 % of Chinese summaries have no Latin-script term at all, 2.5 % more only
#: common ones).
DISPLACED_MAX = 0.5
DISPLACED_WEIGHT = 2.5
#: The entries that score at least this share of the best neighbour's score are that summary's possible
#: owners (a digest may list a paper twice, or two abstracts share the summary's names).
NEAR = 0.9


class _Sources:
    """Every entry's title + abstract, lower-cased in one string, to find which entries hold a term."""

    def __init__(self, lowered: Sequence[str]) -> None:
        # UTF-8 bytes: terms are ASCII, and a bytes search is several times faster than a str one.
        self.starts: list[int] = []
        parts: list[bytes] = []
        position = 0
        for source in lowered:
            self.starts.append(position)
            parts.append(source.encode())
            position += len(parts[-1]) + 1
        self.blob = b"\0".join(parts)
        self.count = len(lowered)
        self._held: dict[str, frozenset[int]] = {}

    def holders(self, term: str) -> frozenset[int]:
        """The entries whose source contains `term` (cached: a digest repeats its common terms)."""
        held = self._held.get(term)
        if held is None:
            held = self._held[term] = frozenset(self._find(term))
        return held

    def weight(self, term: str) -> float:
        """Rarity in the digest: a term every abstract holds weighs 0.1, one only its own abstract
        holds about log(N / 2)."""
        return math.log((self.count + 1) / (len(self.holders(term)) + 1)) + 0.1

    def _find(self, term: str) -> set[int]:
        """One search per entry that holds `term`, each resumed at the next entry's start."""
        found: set[int] = set()
        if _loose(term):  # a plain substring: `bytes.find` is the fastest search there is
            needle = term.encode()
            at = self.blob.find(needle)
            while at >= 0:
                index = bisect.bisect_right(self.starts, at) - 1
                found.add(index)
                at = self.blob.find(needle, self.starts[index + 1]) if index + 1 < self.count else -1
            return found
        search = _whole_pattern(term).search
        hit = search(self.blob)
        while hit is not None:
            index = bisect.bisect_right(self.starts, hit.start()) - 1
            found.add(index)
            hit = search(self.blob, self.starts[index + 1]) if index + 1 < self.count else None
        return found


def _whole_pattern(term: str) -> re.Pattern[bytes]:
    """A short term or figure as `_whole_at` accepts it, searched in C over the whole digest: `rl`
    occurs inside words thousands of times, and a Python loop over them dominated a scan. The literal
    comes first and the look-behind after it, so that the engine scans for the literal."""
    needle = re.escape(term.encode())
    if term[0].isdigit():
        return re.compile(needle + rb"(?<![0-9.]" + needle + rb")(?!\.?[0-9])")
    return re.compile(needle + rb"(?<![a-z0-9]" + needle + rb")s?(?![a-z0-9])")


def shifted(summaries: Sequence[str | None], sources: Sequence[str]) -> list[Shift]:
    """The entries whose summary belongs to another entry of the digest. `summaries[i]` is None for
    entries not to judge (already broken); `sources[i]` is entry i's title + abstract.

    Two findings: a summary whose distinctive terms are missing from its own source and present in
    another entry's (`neighbour` is that entry); and the entry it was taken from, when that entry's
    present summary does not show it is its own (`neighbour` None) -- in a rotation no entry keeps its
    summary, and this finds those whose new summary carries no distinctive term. Terms weigh by rarity
    in the digest, so `LLM` counts for less than `HaKAN`.
    Costly work (searching the whole digest) is only done for the few summaries with at most half their
    terms in their own source.
    """
    lowered = [source.lower() for source in sources]
    words: dict[int, frozenset[str]] = {}
    candidates: list[tuple[int, frozenset[str]]] = []
    for i, summary in enumerate(summaries):
        if summary is None or lowered[i].isspace() or not lowered[i]:
            continue
        found = words[i] = terms(summary)
        absent = _absent(found, lowered[i])
        if absent:
            candidates.append((i, absent))
    if not candidates:
        return []
    index = _Sources(lowered)
    direct = [best for i, absent in candidates
              if _may_belong_elsewhere(absent, index) and (best := _best_neighbour(i, words[i], index))]
    shifts = {shift.index: shift for shift, _ in direct}
    for _, owners in direct:
        if any(j in shifts for j in owners):
            continue  # the summary came from an entry already found holding another's
        owns = {j: _own_evidence(j, words[j], index) for j in owners if j in words}
        weak = {j: share for j, (share, weight) in owns.items()
                if share < DISPLACED_MAX or weight < DISPLACED_WEIGHT}
        if weak:
            j = min(weak, key=lambda k: weak[k])
            shifts[j] = Shift(index=j, neighbour=None, own=weak[j], theirs=0.0)
    return [shifts[i] for i in sorted(shifts)]


def _absent(words: frozenset[str], lowered: str) -> frozenset[str] | None:
    """The terms missing from a summary's own source, or None when fewer than 1 - CANDIDATE_MAX of
    its terms are not even substrings of it (the common case: a summary's terms are its own). Only a
    C-level substring search runs on every summary; the whole-word checks run on the few others.
    Counting `rl` in `world` as present loses no rotated summary on the corpus."""
    need = (1 - CANDIDATE_MAX) * len(words)
    unseen = [term for term in words if term not in lowered]  # not even inside a word
    if not words or len(unseen) < need:
        return None
    maybe = [term for term in words if (len(term) < 4 or term[0].isdigit()) and term in lowered]
    return frozenset(unseen + [term for term in maybe if not _whole_in(lowered, term)])


def _whole_in(lowered: str, term: str) -> bool:
    """`term` occurs in `lowered` as a whole word or figure."""
    at = lowered.find(term)
    while at >= 0:
        if _whole_at(lowered, at, term):
            return True
        at = lowered.find(term, at + 1)
    return False


def _may_belong_elsewhere(absent: frozenset[str], index: _Sources) -> bool:
    """Whether the terms missing from a summary's own source could weigh MISSING_MIN in a neighbour's:
    looking them up first spares most candidates the search of their other terms through the digest."""
    return sum(index.weight(term) for term in absent if index.holders(term)) >= MISSING_MIN


def _own_evidence(i: int, words: frozenset[str], index: _Sources) -> tuple[float, float]:
    """The share and the weight of the summary's terms found in entry i's source (0, 0 without terms)."""
    total = sum(index.weight(term) for term in words)
    own = sum(index.weight(term) for term in words if i in index.holders(term))
    return (own / total if total else 0.0), own


def _best_neighbour(i: int, words: frozenset[str], index: _Sources) -> tuple[Shift, list[int]] | None:
    """The entry whose source holds summary i's terms missing from its own, with the entries that
    score nearly as well (its possible owners), or None when the summary looks like its own."""
    weights = {term: index.weight(term) for term in words}
    total = sum(weights.values())
    own = sum(weight for term, weight in weights.items() if i in index.holders(term)) / total
    if own > OWN_MAX:
        return None
    scores: dict[int, float] = {}
    for term, weight in weights.items():
        for j in index.holders(term) - {i}:
            scores[j] = scores.get(j, 0.0) + weight
    if not scores:
        return None
    neighbour, score = max(scores.items(), key=lambda item: item[1])
    missing = sum(weight for term, weight in weights.items()
                  if neighbour in (held := index.holders(term)) and i not in held)
    theirs = score / total
    if theirs < NEIGHBOUR_MIN or theirs <= own or missing < MISSING_MIN:
        return None
    owners = [j for j, other in scores.items() if other >= NEAR * score]
    return Shift(index=i, neighbour=neighbour, own=own, theirs=theirs), owners
