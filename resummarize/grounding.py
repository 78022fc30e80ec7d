"""Does a summary belong to its paper? Pure checks over text, for repair and for scan.

A well-written summary of the wrong paper passes every check of form and language: a cached answer under
the wrong key, a batch line matched to the wrong entry, a model that drifted onto the previous paper. Two
signals catch it:

- the evidence phrase: the model copies a short phrase from the abstract it was given; a swapped answer
  carries a phrase of another abstract (`resummarize.evidence`);
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

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
    """Whitespace collapsed to single spaces: two summaries that differ only there are the same text."""
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


@dataclass(frozen=True)
class Shift:
    """A summary that belongs to another entry of the digest: `index` holds `neighbour`'s summary
    (None: whose is unknown, but `index`'s own summary was found at another entry). `own` and `theirs`
    are the shares of the summary's term weight in its own source and in the neighbour's."""

    index: int
    neighbour: int | None
    own: float
    theirs: float


#: Mismatch thresholds, set on 12 corpus files by `bench/mismatched.py` and scored on the other 40: at
#: most OWN_MAX of the summary's term weight is in its own source, at least NEIGHBOUR_MIN in the
#: neighbour's, and the terms the neighbour holds but the own source lacks weigh MISSING_MIN (one term
#: found in about one abstract in fifty, or two rarer than one in seven).
OWN_MAX = 0.5
NEIGHBOUR_MIN = 0.4
MISSING_MIN = 4.0
#: A summary that holds some names of its own source is taken for another entry's only on at least this
#: many names its own source lacks and the other's holds: one name alone is as often an acronym the
#: abstract spells out.
NAMES_MIN = 2
#: Only summaries with at most this share of their terms (unweighted, as substrings) in their own source
#: are weighed against the digest: on the corpus about one summary in forty.
CANDIDATE_MAX = 0.5
#: A summary "vouches" for its entry when it has at least DISPLACED_MAX of its term weight in its own
#: source and at least DISPLACED_WEIGHT in all (a term rarer than about one abstract in ten: `LLM` alone
#: does not show a summary is its own). A summary found at another entry is only taken for that entry's
#: when that entry's present summary does not vouch for it (a shift leaves no entry with its own summary)
#: or is the very same text (a copy); an entry whose own summary was found elsewhere and whose present
#: summary does not vouch is flagged too (in a rotation this finds the summaries with no distinctive term).
DISPLACED_MAX = 0.5
DISPLACED_WEIGHT = 2.5
#: The entries that score at least this share of the best neighbour's score are that summary's possible
#: owners (a digest may list a paper twice, or two abstracts share the summary's names).
NEAR = 0.9
#: A term held by more sources than this does not point at one entry: it is not used to look for the
#: neighbour (it still counts in a neighbour's score). This bound keeps the screen linear in the number
#: of entries: each candidate looks at no more than this many entries per term.
POINTING_MAX = 64


class _Index:
    """Which entries' sources hold the terms asked about (term -> entries): a scan's cost grows with
    the digest, not with its square. A source holds a term when one of its words (runs of ASCII letters
    and digits) is that term or its plural. A summary's own source is judged leniently (`_contains`:
    inside a word too), so that a term must be plainly absent from it and plainly present in another's.

    Two ways to the same answer, whichever is cheaper: a few terms are each searched through the whole
    digest (C speed, no Python per source); many are found by splitting every source into words once."""

    def __init__(self, lowered: Sequence[str], vocabulary: Iterable[str]) -> None:
        self.lowered = lowered
        self.count = len(lowered)
        self._held: dict[str, set[int]] = {}
        self.starts: list[int] = []
        parts: list[bytes] = []
        position = 0
        for source in lowered:
            self.starts.append(position)
            parts.append(source.encode())
            position += len(parts[-1]) + 1
        self.parts = parts
        self.blob = b"\0".join(parts)
        self.add(vocabulary)

    def add(self, vocabulary: Iterable[str]) -> None:
        """Index the terms of `vocabulary` not indexed yet."""
        new = sorted({term for term in vocabulary if term not in self._held})
        if len(new) <= SEARCHED_MAX:
            self._held.update((term, self._search(term)) for term in new)
        else:
            self._held.update(self._split(new))

    def _search(self, term: str) -> set[int]:
        """The entries holding `term`: one search of the digest, resumed at the next entry after a hit."""
        found: set[int] = set()
        search = _word_pattern(term).search
        hit = search(self.blob)
        while hit is not None:
            index = bisect.bisect_right(self.starts, hit.start()) - 1
            found.add(index)
            hit = search(self.blob, self.starts[index + 1]) if index + 1 < self.count else None
        return found

    def _split(self, terms_: list[str]) -> dict[str, set[int]]:
        """The entries holding each of `terms_`: every source split into its words once."""
        held: dict[bytes, set[int]] = {term.encode(): set() for term in terms_}
        wanted = held.keys() | {term + b"s" for term in held}
        for i, part in enumerate(self.parts):
            for word in wanted.intersection(part.translate(_SPACES).split()):
                if word in held:
                    held[word].add(i)
                if word[:-1] in held and word[-1:] == b"s":
                    held[word[:-1]].add(i)
        return {term.decode(): found for term, found in held.items()}

    def holders(self, term: str) -> set[int]:
        return self._held[term]

    def holds(self, i: int, term: str) -> bool:
        """Entry i's source holds `term` as a word (strict: the test for another entry's source)."""
        return i in self._held[term]

    def owns(self, i: int, term: str) -> bool:
        """Entry i's source holds `term` as a word or inside one (lenient: the test for its own source)."""
        return i in self._held[term] or _contains(self.lowered[i], term)

    def weight(self, term: str) -> float:
        """Rarity in the digest: a term every abstract holds weighs 0.1, one only its own abstract
        holds about log(N / 2)."""
        return math.log((self.count + 1) / (len(self._held[term]) + 1)) + 0.1


#: Up to this many new terms are each searched through the digest; more are found by splitting every
#: source into words (each way costs about as much as the other at this count; both are linear).
SEARCHED_MAX = 24
#: Bytes that are not ASCII letters or digits become spaces: a source splits into its words at C speed.
_SPACES = bytes(c if chr(c).isascii() and chr(c).isalnum() else 32 for c in range(256))


def _word_pattern(term: str) -> re.Pattern[bytes]:
    """`term` or its plural as a whole word, as `_Index._split` finds it. The literal comes first and
    the look-behind after it, so that the engine scans for the literal."""
    needle = re.escape(term.encode())
    return re.compile(needle + rb"(?<![a-z0-9]" + needle + rb")s?(?![a-z0-9])")


def shifted(summaries: Sequence[str | None], sources: Sequence[str]) -> list[Shift]:
    """The entries whose summary belongs to another entry of the digest. `summaries[i]` is None for
    entries not to judge (already broken); `sources[i]` is entry i's title + abstract.

    Two findings: a summary whose distinctive terms are missing from its own source and present in
    another entry's (`neighbour` is that entry) whose own summary does not vouch for it; and the entry it
    was taken from, when that entry's present summary does not vouch for it (`neighbour` None). Both
    sides of a shift must look wrong: one summary that names things of another paper is not enough (a
    faithful summary that expands an acronym or writes `2,000` as `2000` does). Terms weigh by rarity in
    the digest, so `LLM` counts for less than `HaKAN`. The verdict depends on the entries, not on their
    order: the same digest as JSONL and as markdown gets the same verdicts.
    """
    lowered = [source.lower() for source in sources]
    words: dict[int, frozenset[str]] = {}
    candidates: list[tuple[int, frozenset[str]]] = []
    for i, summary in enumerate(summaries):
        if summary is None or lowered[i].isspace() or not lowered[i]:
            continue
        found = words[i] = _named(summary)
        absent = _absent(found, lowered[i])
        if absent:
            candidates.append((i, absent))
    if not candidates:
        return []
    index = _Index(lowered, chain.from_iterable(words[i] for i, _ in candidates))
    neighbours = {i: best for i, absent in candidates if (best := _best_neighbour(i, words[i], absent, index))}
    index.add(chain.from_iterable(words.get(j, ()) for _, owners in neighbours.values() for j in owners))
    texts = {i: normalise(summaries[i] or "") for i in neighbours}
    vouches = _Vouching(index, words)
    shifts: dict[int, Shift] = {}
    displaced: list[list[int]] = []
    for i, (shift, owners) in neighbours.items():
        copied = [j for j in owners if j != i and normalise(summaries[j] or "") == texts[i]]
        if copied or not all(vouches(j) for j in owners):
            shifts[i] = shift
            if not copied:
                displaced.append(owners)
    for owners in displaced:
        if any(j in shifts for j in owners):
            continue  # the summary came from an entry already found holding another's
        weak = {j: vouches.share(j) for j in owners if j in words and not vouches(j)}
        if weak:
            j = min(weak, key=lambda k: (weak[k], lowered[k]))
            shifts[j] = Shift(index=j, neighbour=None, own=weak[j], theirs=0.0)
    return [shifts[i] for i in sorted(shifts)]


def _named(summary: str) -> frozenset[str]:
    """The terms of a summary the screen weighs: names, not figures. A faithful summary rewords figures
    (`2,000` as `2000`, `111K` as `11.1万`, `thirty-six` as `36`): a figure missing from the abstract
    says nothing about whose summary it is."""
    return frozenset(term for term in terms(summary) if not term[0].isdigit())


class _Vouching:
    """Whether an entry's present summary shows it is its own (see DISPLACED_MAX), computed once each.
    An entry with no summary to judge (already broken) does not vouch."""

    def __init__(self, index: _Index, words: dict[int, frozenset[str]]) -> None:
        self._index, self._words = index, words
        self._known: dict[int, tuple[float, float]] = {}

    def evidence(self, j: int) -> tuple[float, float]:
        """The share and the weight of entry j's summary terms its own source holds (0, 0 without)."""
        if j not in self._known:
            terms_ = sorted(self._words.get(j, ()))
            total = sum(self._index.weight(term) for term in terms_)
            own = sum(self._index.weight(term) for term in terms_ if self._index.owns(j, term))
            self._known[j] = ((own / total if total else 0.0), own)
        return self._known[j]

    def share(self, j: int) -> float:
        return self.evidence(j)[0]

    def __call__(self, j: int) -> bool:
        share, weight = self.evidence(j)
        return j in self._words and share >= DISPLACED_MAX and weight >= DISPLACED_WEIGHT


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


def _best_neighbour(
    i: int, words: frozenset[str], absent: frozenset[str], index: _Index
) -> tuple[Shift, list[int]] | None:
    """The entry whose source holds summary i's terms missing from its own, with the entries that
    score nearly as well (its possible owners), or None when the summary looks like its own. Only the
    entries holding one of the missing terms held by at most POINTING_MAX sources are scored."""
    ordered = sorted(words)
    weights = {term: index.weight(term) for term in ordered}
    total = sum(weights.values())
    own = sum(weight for term, weight in weights.items() if index.owns(i, term)) / total
    if own > OWN_MAX:
        return None
    pointed: set[int] = set()
    for term in sorted(absent):
        held = index.holders(term)
        if len(held) <= POINTING_MAX:
            pointed.update(held)
    pointed.discard(i)
    if not pointed:
        return None
    scores = {j: sum(weight for term, weight in weights.items() if index.holds(j, term)) for j in pointed}
    neighbour = max(scores, key=lambda j: (scores[j], index.lowered[j]))
    score = scores[neighbour]
    shared = [term for term in sorted(absent) if index.holds(neighbour, term)]
    missing = sum(weights[term] for term in shared)
    theirs = score / total
    if theirs < NEIGHBOUR_MIN or theirs <= own or missing < MISSING_MIN or (own and len(shared) < NAMES_MIN):
        return None
    owners = sorted(j for j, other in scores.items() if other >= NEAR * score)
    return Shift(index=i, neighbour=neighbour, own=own, theirs=theirs), owners
