"""The evidence check on phrases copied the way models copy: real answers accepted, swapped ones refused.

    python bench/evidence.py [--held-out DIR]

`--held-out DIR`: the enhanced files of DIR that `tests/corpus` does not hold (upstream's days the check
was not tuned on; the seed is left out), recorded in a section of their own.

Inputs: the English abstracts of `tests/corpus` (arXiv abstracts, hard-wrapped, with LaTeX) and of the
seed digest; for the Chinese case, the model-written Chinese fields of `tests/corpus` stand in for a
Chinese abstract (no abstract of the corpus is Chinese). A phrase is taken from an abstract only where
the alteration below has something to alter, and then altered the way models alter what they copy:

- `as written`: 6-20 words as they stand, line breaks included (the model writes spaces);
- `curly quotes`: a phrase holding a "quoted" term, written with “curly” quotes;
- `capitalised`: a phrase starting mid-sentence, its first letter made a capital;
- `dash`: a phrase holding LaTeX's `--` or `---`, written with an en dash or an em dash;
- `LaTeX as Unicode`: a phrase holding `$...$`, written as pylatexenc prints it (`$\\alpha$` -> `α`,
  `$99.5\\%$` -> `99.5%`): another implementation than the check's own table;
- `hyphenation`: a phrase across a line break after a hyphen (`multi-\\nagent`), written `multi-agent`;
- `fragments`: two pieces of 4-8 words, at least 5 words apart, joined by ` … `;
- `one slip`: `as written` with one letter dropped (a model's typo);
- `Chinese`: 12-40 characters of a Chinese field, ASCII punctuation for the full-width one.

A phrase outside the length a model is asked for (6-40 words, 10-80 CJK characters) is left out: that
rule is stated to the model and refused as such. Each variant is judged against its own abstract
(accepted: good) and against another paper's abstract in 5 random pairings (accepted: a swapped answer
let through), before this change (the exact check on whitespace-normalised text) and now; then the
hardest swap: each phrase against the other abstract that matches it best.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path

from common import REPO, record
from pylatexenc.latex2text import LatexNodes2Text
from rapidfuzz import fuzz, process

from resummarize import evidence
from resummarize.digest import load

CORPUS = REPO / "tests" / "corpus"
SEED = REPO / "seeds" / "2026-01-28-cs.LG.md"
PAIRINGS = 5

# abstract -> altered phrase, or (the abstract as wrapped, altered phrase); None: nothing to alter
Variant = Callable[[str, random.Random], str | tuple[str, str] | None]


def digests(held_out: Path | None) -> list[Path]:
    """`tests/corpus`'s enhanced files, or those of `held_out` that `tests/corpus` does not hold."""
    tuned = sorted(CORPUS.glob("*_AI_enhanced_*.jsonl"))
    if held_out is None:
        return tuned
    return [path for path in sorted(held_out.glob("*_AI_enhanced_*.jsonl")) if path.name not in {t.name for t in tuned}]


def abstracts(paths: list[Path], *, seed: bool) -> list[str]:
    """One abstract a paper (the first seen): a paper listed on two days with a revised abstract is not
    "another paper" to swap in."""
    first: dict[str, str] = {}
    for path in [*paths, *([SEED] if seed else [])]:
        for entry in load(path).entries:
            first.setdefault(entry.id.split("v")[0], entry.abstract)
    return list(dict.fromkeys(a for a in first.values() if len(a.split()) >= 60))


def chinese_texts(paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        for entry in load(path).entries:
            text = "".join(str(entry.fields.get(k, "")) for k in ("motivation", "method", "result"))
            if len(re.findall(r"[\u4e00-\u9fff]", text)) >= 80:
                texts.append(text)
    return list(dict.fromkeys(texts))


def _words_around(
    abstract: str, at: int, rng: random.Random, size: tuple[int, int] = (8, 20), *, starting: bool = False
) -> str:
    """A run of whole words of `abstract` covering character `at` (or starting there), as written (line
    breaks included), of a length the check asks for."""
    spans = [m.span() for m in re.finditer(r"\S+", abstract)]
    index = next(i for i, (start, end) in enumerate(spans) if end > at)
    count = rng.randint(*size)
    first = max(0, min(index - (0 if starting else rng.randint(0, count - 1)), len(spans) - count))
    last = min(len(spans), first + count) - 1
    return abstract[spans[first][0] : spans[last][1]]


def _at(pattern: str) -> Callable[[str, random.Random], tuple[int, str] | None]:
    def find(abstract: str, rng: random.Random) -> tuple[int, str] | None:
        hits = list(re.finditer(pattern, abstract))
        if not hits:
            return None
        hit = rng.choice(hits)
        return hit.start(), hit.group(0)
    return find


def as_written(abstract: str, rng: random.Random) -> str:
    return _words_around(abstract, rng.randrange(len(abstract)), rng)


def curly_quotes(abstract: str, rng: random.Random) -> str | None:
    hit = _at(r'"[^"\n]{2,40}"')(abstract, rng)
    if hit is None:
        return None
    phrase = _words_around(abstract, hit[0], rng, (8, 20))
    return re.sub(r'"([^"]*)"', "\u201c\\1\u201d", phrase) if phrase.count('"') % 2 == 0 else None


def capitalised(abstract: str, rng: random.Random) -> str | None:
    hit = _at(r"(?<=[a-z,] )[a-z]{3,}")(abstract, rng)
    if hit is None:
        return None
    phrase = _words_around(abstract, hit[0], rng, starting=True)
    return phrase[0].upper() + phrase[1:]


def dash(abstract: str, rng: random.Random) -> str | None:
    hit = _at(r"\s?-{2,3}\s?")(abstract, rng)
    if hit is None:
        return None
    phrase = _words_around(abstract, hit[0], rng, (8, 20))
    return re.sub(r"\s?-{2,3}\s?", rng.choice([" \u2013 ", "\u2014"]), phrase)


_LATEX = LatexNodes2Text(math_mode="text")


def latex_as_unicode(abstract: str, rng: random.Random) -> str | None:
    hit = _at(r"\$[^$]{1,30}\$")(abstract, rng)
    if hit is None:
        return None
    phrase = _words_around(abstract, hit[0], rng, (8, 20))
    if phrase.count("$") % 2:
        return None
    return re.sub(r"\$[^$]+\$", lambda m: _LATEX.latex_to_text(m.group(0)), phrase)


def hyphenation(abstract: str, rng: random.Random) -> tuple[str, str] | None:
    """A break after a hyphen where the abstract has one; else the abstract wrapped after one of its own
    hyphens, as arXiv's hard wrapping at 80 columns does (the abstracts of the inputs have none)."""
    hit = _at(r"[a-z]-\n[a-z]")(abstract, rng) or _at(r"[a-z]-[a-z]")(abstract, rng)
    if hit is None:
        return None
    at = hit[0] + 2
    wrapped = abstract if abstract[at - 1] == "\n" else abstract[:at] + "\n" + abstract[at:]
    return wrapped, _words_around(wrapped, hit[0], rng).replace("-\n", "-")


def fragments(abstract: str, rng: random.Random) -> str:
    words = abstract.split()
    first = rng.randrange(0, len(words) - 30)
    one, gap, two = rng.randint(4, 8), rng.randint(5, 12), rng.randint(4, 8)
    second = first + one + gap
    return " ".join(words[first : first + one]) + " \u2026 " + " ".join(words[second : second + two])


def one_slip(abstract: str, rng: random.Random) -> str:
    phrase = as_written(abstract, rng)
    letters = [i for i, c in enumerate(phrase) if c.isalpha()]
    drop = rng.choice(letters)
    return phrase[:drop] + phrase[drop + 1 :]


_HALF_WIDTH = str.maketrans({"\uff0c": ",", "\uff1a": ":", "\uff1b": ";", "\uff08": "(", "\uff09": ")"})


def chinese(text: str, rng: random.Random) -> str:
    size = rng.randint(15, 40)
    start = rng.randrange(0, max(1, len(text) - size))
    return text[start : start + size].translate(_HALF_WIDTH)


VARIANTS: dict[str, Variant] = {
    "as written": as_written, "curly quotes": curly_quotes, "capitalised": capitalised, "dash": dash,
    "LaTeX as Unicode": latex_as_unicode, "hyphenation": hyphenation, "fragments": fragments,
    "one slip": one_slip,
}


def before(given: str, abstract: str) -> bool:
    """The check as it was: the phrase, whitespace-normalised, found verbatim in the abstract."""
    phrase = " ".join(given.split()).strip(" \"'\u201c\u201d\u2018\u2019")
    low, high = evidence.EVIDENCE_WORDS
    return low <= len(phrase.split()) <= high and phrase.rstrip(".") in " ".join(abstract.split())


def now(given: str, abstract: str) -> bool:
    return evidence.evidence_problem(given, "", abstract) is None


def judge(texts: list[str], variant: Variant, seed: int) -> tuple[int, dict[str, float]]:
    rng = random.Random(seed)
    cases: list[tuple[int, str, str]] = []  # (paper, its text as judged, phrase)
    for i, text in enumerate(texts):
        made = variant(text, rng)
        if made:
            own, phrase = made if isinstance(made, tuple) else (text, made)
            if evidence.evidence_sized(phrase):  # a model is asked for this length; shorter is refused
                cases.append((i, own, phrase))
    figures: dict[str, float] = {}
    for name, rule in (("before", before), ("now", now)):
        figures[f"{name} own"] = sum(rule(p, own) for _, own, p in cases) / max(1, len(cases))
        swapped = trials = 0
        for k in range(PAIRINGS):
            order = list(range(len(texts)))
            random.Random(100 + k).shuffle(order)
            other = dict(zip(order, order[1:] + order[:1], strict=True))
            swapped += sum(rule(p, texts[other[i]]) for i, _, p in cases)
            trials += len(cases)
        figures[f"{name} swapped"] = swapped / trials
    return len(cases), figures


def worst_case(texts: list[str], count: int = 200) -> tuple[int, float, float]:
    """`as written` and `one slip` phrases of `count` papers, each judged against the best-matching of
    every other abstract (the hardest swap there is): (trials, accepted before, accepted now)."""
    rng = random.Random(99)
    chosen = rng.sample(range(len(texts)), min(count, len(texts)))
    folded = [evidence.comparable(text) for text in texts]
    trials = before_hits = now_hits = 0
    for i in chosen:
        for phrase in (as_written(texts[i], rng), one_slip(texts[i], rng)):
            if not evidence.evidence_sized(phrase):
                continue
            found = process.extractOne(evidence.comparable(phrase), folded[:i] + folded[i + 1 :],
                                       scorer=fuzz.partial_ratio)
            other = texts[:i] + texts[i + 1 :]
            best = other[found[2]] if found else ""
            trials += 1
            before_hits += any(before(phrase, text) for text in other)
            now_hits += now(phrase, best)
    return trials, before_hits / trials, now_hits / trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=Path, metavar="DIR", help="score on DIR's days not in tests/corpus")
    args = parser.parse_args()
    paths = digests(args.held_out)
    english, zh = abstracts(paths, seed=args.held_out is None), chinese_texts(paths)
    rows = ["| variant | phrases | accepted before | accepted now | swapped accepted before | swapped accepted now |",
            "|---|---|---|---|---|---|"]
    total = trials = 0.0
    for seed, (name, variant) in enumerate([*VARIANTS.items(), ("Chinese", chinese)]):
        count, f = judge(zh if name == "Chinese" else english, variant, seed)
        rows.append(f"| {name} | {count} | {f['before own']:.1%} | {f['now own']:.1%} | "
                    f"{f['before swapped']:.2%} | {f['now swapped']:.2%} |")
        total += f["now swapped"] * count * PAIRINGS
        trials += count * PAIRINGS
    inputs = (f"{len(paths)} held-out days of {args.held_out.name} (not in tests/corpus, not tuned on): "
              if args.held_out else "")
    body = (f"{inputs}{len(english)} English abstracts, {len(zh)} Chinese texts; each phrase judged against its own "
            f"text and, {PAIRINGS} times, against another paper's (swapped). Thresholds: copied at a partial "
            f"ratio >= {evidence.COPIED}.\n\n" + "\n".join(rows)
            + f"\n\nSwapped answers accepted now, all variants: {total / trials:.2%} of {int(trials)} trials.")
    trials_hard, before_hard, now_hard = worst_case(english)
    body += (f"\n\nThe hardest swap: {trials_hard} phrases (`as written` and `one slip`) each judged against the "
             f"abstract among the other {len(english) - 1} that matches it best: accepted {before_hard:.2%} before, "
             f"{now_hard:.2%} now.")
    if args.held_out is None:
        record("Evidence check", "python bench/evidence.py", body)
    else:
        record("Evidence check: held-out days", f"python bench/evidence.py --held-out {args.held_out}", body)


if __name__ == "__main__":
    sys.exit(main())
