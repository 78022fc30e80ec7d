"""What a field we write may contain: a whitelist, because upstream's web page inserts every AI field into
the page with `innerHTML`, so whatever a model answers is HTML that a reader's browser runs.

A summary is prose. It may quote what its own paper says (the title and abstract are the paper's, and
how they are shown is the input's business), but it may not add markup, links, images, script URLs,
character references, invisible characters, figures or sentences in another language. Every check here
is pure: text in, the offending pieces out, so the same rules serve answer validation, the journal and
benchmarks.

A field has two kinds of reader, and each is asked rather than imitated: the markdown digest is rendered
by GitHub's own CommonMark/GFM renderer (cmark-gfm, through `cmarkgfm`), and the links and images it
makes are read from that HTML with BeautifulSoup, so every link syntax (nested brackets, escapes, code
spans, links inside what looks like math, autolinked bare URLs and `www.` names, e-mail addresses) is
judged as a reader sees it; the web page's `innerHTML` decodes character references the way
`html.unescape` does (HTML5's table, with the legacy names that need no `;`).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from urllib.parse import unquote

import cmarkgfm
from bs4 import BeautifulSoup
from cmarkgfm.cmark import Options

from resummarize import language as languages
from resummarize.language import Language

#: Characters per field, on top of the word cap: a 50 kB "word" is one word. Ten characters a word.
MAX_CHARS = {"tldr": 600, "motivation": 1200, "method": 1200, "result": 1200, "conclusion": 1200}

# `<` that an HTML parser reads as the start of a tag, an end tag, a comment, a declaration or a
# processing instruction; the piece runs to the `>` that closes it, or to the end of the field when
# nothing does (the page's own markup after the field would close it).
_TAG = re.compile(r"<[A-Za-z/!?][^>]*>?")
# Where a character reference may start, for naming it; whether it is one is `html.unescape`'s call.
_REFERENCE = re.compile(r"&(?:#[xX]?[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);?")
# What may not follow a source's link in a target that extends it: more address (ASCII letters, digits, `/`).
_ADDRESS_TAIL = re.compile(r"[A-Za-z0-9/?#=&.]")
# What every markdown link, image, reference definition, raw tag or GFM autolink needs somewhere in the
# text (a `[x][y]` reference resolves only with a definition, and a field alone has none but its own).
_LINK_MARKS = ("](", "]:", "<", "://", "www.", "@", "mailto:", "xmpp:")
#: Attributes through which rendered HTML fetches or links to something.
_URL_ATTRIBUTES = ("href", "src", "srcset", "poster", "data", "action", "formaction", "background", "cite")
# Script URLs, and `data:` only where a media type or the data itself follows (`data: we collect` is prose).
_URL = re.compile(r"(?:java|vb)script\s*:|\bdata\s*:\s*(?:[a-z]+/[a-z0-9.+-]+|[;,])", re.IGNORECASE)
# Invisible characters that are not format characters (Cf): Hangul fillers, the blank braille pattern,
# variation selectors and the combining grapheme joiner.
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
)
#: Unicode categories that never belong in a summary: format (bidi controls, zero-width characters,
#: soft hyphen, tags), private use, unassigned, surrogates.
_HIDDEN_CATEGORIES = frozenset({"Cf", "Co", "Cn", "Cs"})
_INVISIBLE_CHARACTER = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(_INVISIBLE)) + "]")
# A figure: digits with optional thousands separators and decimals (version-like runs, `3.1.2`, whole),
# and the unit written after it (`58万` is 580K, `135B` is 135 billion).
_NUMBER = r"(?<![\d.])(?:(?<!,)\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,]\d)|\.?\d+(?:\.\d+)*)"
_UNITS = {
    "百万": 6, "千万": 7, "万": 4, "亿": 8, "千": 3, "k": 3, "K": 3, "M": 6, "B": 9, "T": 12,
    "thousand": 3, "million": 6, "billion": 9, "trillion": 12,
}
_FIGURE = re.compile(
    rf"(?P<number>{_NUMBER})(?:\s?(?P<unit>百万|千万|万|亿|千|[kKMBT](?![A-Za-z])|(?:thousand|million|billion|trillion)\b))?"
)
_SMALL = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORDS = {word: n for n, word in enumerate(_SMALL)} | {word: 10 * (n + 2) for n, word in enumerate(_TENS)}
# Figures written as words in an abstract: `twelve`, `twenty-five`, `three hundred`, `three million`.
_WORD_FIGURE = re.compile(
    rf"\b(?P<tens>{'|'.join(_TENS)})(?:[- ]?(?P<unit>{'|'.join(_SMALL[1:10])}))?\b"
    rf"|\b(?P<small>{'|'.join(_SMALL)}|an?)\b"
    r"(?:\s+(?P<scale>hundred|thousand|million|billion))?",
    re.IGNORECASE,
)
_WORD_SCALES = {"hundred": 2, "thousand": 3, "million": 6, "billion": 9}
# A figure in Chinese numerals, a percentage (`百分之…`) included; `spelled_figures` says which are figures.
_CHINESE_FIGURE = re.compile(
    r"(?:百分之)?(?P<digits>[零〇一二两三四五六七八九十百千万亿]+(?:点[零〇一二三四五六七八九]+)?)")
_CHINESE_DIGIT = re.compile(r"[零〇一二两三四五六七八九]")
# LaTeX thousands separators in abstracts: `$11{,}195$`, `11\,195`.
_LATEX_COMMA = re.compile(r"\{,\}|\\,")
#: A percentage may be stated as a fraction and the other way round.
_SCALES = (Decimal(1), Decimal(100), Decimal("0.01"))
# Sentence ends: CJK terminators anywhere; `.`, `!`, `?` and `;` before a space.
_SENTENCE_END = re.compile(r"(?<=[。！？；])|(?<=[.!?;])\s+")
#: A sentence needs this many letters (`_letters`) before its language is judged on its own.
SENTENCE_MIN_LETTERS = 24


def markup(text: str, source: str) -> list[str]:
    """Tags, comments, declarations, character references and script URLs not quoted from `source`."""
    found = [m.group(0) for m in _TAG.finditer(text)]
    found += references(text)
    found += [m.group(0) for m in _URL.finditer(text)]
    return list(dict.fromkeys(piece for piece in found if piece not in source))


def references(text: str) -> list[str]:
    """Character references a browser decodes in `innerHTML`: `&lt;`, and `&lt`, `&amp`, `&#106` without
    the `;` too (`html.unescape` follows HTML5; an HTML parser such as BeautifulSoup's leaves some be)."""
    if "&" not in text:
        return []
    return [m.group(0) for m in _REFERENCE.finditer(text) if html.unescape(m.group(0)) != m.group(0)]


def links(text: str, source: str) -> list[str]:
    """Links and images that GitHub's renderer makes of `text`, to targets `source` does not give:
    each as `link to URL` or `image URL`."""
    found = _targets(text)
    if not found:
        return []
    allowed = {target for _, target in _targets(source)}
    return list(dict.fromkeys(
        f"{'image' if kind == 'img' else 'link to'} {target}"
        for kind, target in found if not _given(target, allowed, source)))


def _given(target: str, allowed: set[str], source: str) -> bool:
    """A target the source gives: as a link of its own, as text, or as one of its links followed by
    what GFM's autolinker swallowed after it (`https://github.com/x/y上发布。`, Chinese prose glued to
    the address: a broken link to the paper's own page, not a new one)."""
    if target in allowed or target in source:
        return True
    address = unquote(target)
    return any(address.startswith(link) and not _ADDRESS_TAIL.search(address[len(link):]) for link in allowed)


@lru_cache(maxsize=256)
def _targets(text: str) -> tuple[tuple[str, str], ...]:
    """(tag, URL) of every link, image or other fetch in `text` as GitHub renders it (raw HTML kept:
    GitHub keeps its links and images). Cached: an abstract is the source of five fields."""
    lowered = text.lower()
    if not any(mark in lowered for mark in _LINK_MARKS):
        return ()  # no link, definition, tag, autolink or address can start: spare the renderer
    page = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    return tuple((tag.name, str(tag[attribute])) for tag in BeautifulSoup(page, "html.parser").find_all(True)
                 for attribute in _URL_ATTRIBUTES if tag.has_attr(attribute))


def invisible(text: str) -> list[str]:
    """Bidi controls, zero-width and other invisible characters, as `U+XXXX`."""
    if text.isprintable() and not _INVISIBLE_CHARACTER.search(text):
        return []  # no format, private-use, unassigned or surrogate character (their categories are not printable)
    bad = {c for c in text if ord(c) in _INVISIBLE or unicodedata.category(c) in _HIDDEN_CATEGORIES}
    return [f"U+{ord(c):04X}" for c in sorted(bad)]


def _value(number: str, unit: str | None = None) -> Decimal | None:
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    return value.scaleb(_UNITS[unit]) if unit else value


def _is_checked(number: str) -> bool:
    """Figures of two or more digits and every decimal; single digits (`3 benchmarks`) are free."""
    return "." in number or sum(c.isdigit() for c in number) >= 2


def _word_values(source: str) -> Iterator[Decimal]:
    for match in _WORD_FIGURE.finditer(source):
        value = _word_value(match)
        if value is not None:
            yield value


def _word_value(match: re.Match[str]) -> Decimal | None:
    """The value of an English number-word match (`ninety-nine`, `three hundred`); None for a lone `a`."""
    if match.group("tens"):
        tens, unit = match.group("tens").lower(), (match.group("unit") or "").lower()
        return Decimal(_WORDS[tens] + (_WORDS[unit] if unit else 0))
    small, scale = match.group("small").lower(), match.group("scale")
    if small in ("a", "an") and not scale:
        return None
    value = Decimal(_WORDS.get(small, 1))
    return value.scaleb(_WORD_SCALES[scale.lower()]) if scale else value


@lru_cache(maxsize=64)
def source_figures(source: str) -> tuple[frozenset[str], tuple[Decimal, ...]]:
    """The figures of a source text: as written (without separators), and as values, words included.
    Cached: the five fields of an answer are checked against the same abstract."""
    source = _LATEX_COMMA.sub(",", source)
    matches = list(_FIGURE.finditer(source))
    verbatim = frozenset(m.group("number").replace(",", "") for m in matches)
    values = [v for m in matches if (v := _value(m.group("number"), m.group("unit"))) is not None]
    return verbatim, (*values, *_word_values(source))


def _ulp(number: str) -> Decimal:
    """Half the rounding step a figure was written at, or the whole step for its last digit (a
    truncation): `0.26` -> 0.01, `93` -> 1, `1,200` -> 50."""
    plain = number.replace(",", "")
    if "." in plain:
        return Decimal(1).scaleb(-len(plain.split(".")[1]))
    zeros = min(len(plain) - len(plain.rstrip("0")), len(plain) - 1)
    return Decimal(10) ** zeros / (2 if zeros else 1)


def _known(number: str, unit: str | None, verbatim: frozenset[str], values: tuple[Decimal, ...]) -> bool:
    """In the source as written, or as a value rounded or scaled (`93` for 0.932, `58万` for 580K)."""
    if number.replace(",", "") in verbatim:
        return True
    value = _value(number, unit)
    if value is None or number.count(".") > 1:  # a version: only as written
        return False
    step = _ulp(number).scaleb(_UNITS[unit]) if unit else _ulp(number)
    return any(abs(value - source * scale) < step for source in values for scale in _scales(source, value))


def _scales(source: Decimal, value: Decimal) -> tuple[Decimal, ...]:
    """A fraction of the source may be written as a percentage, and a percentage as a fraction."""
    if abs(source) <= 1:
        return _SCALES[:2]
    return _SCALES[::2] if abs(value) <= 1 else _SCALES[:1]


def unknown_numbers(text: str, source: str) -> list[str]:
    """Figures of two or more digits, and decimals, that the source does not state (rounding allowed);
    figures spelled out count (`ninety-nine percent`, `百分之九十九点七`)."""
    verbatim, values = source_figures(source)
    found = [(m.group(0), m.group("number"), m.group("unit")) for m in _FIGURE.finditer(text)]
    found += [(piece, number, None) for piece, number in spelled_figures(text)]
    return list(dict.fromkeys(piece for piece, number, unit in found
                              if _is_checked(number) and not _known(number, unit, verbatim, values)))


def _chinese_number(digits: str) -> int | float:
    """cn2an's strict reading, imported on first use: it costs ~160 ms at every start, and only a field
    with Chinese numerals needs it."""
    import cn2an

    return cn2an.cn2an(digits, "strict")  # type: ignore[no-any-return]


def spelled_figures(text: str) -> list[tuple[str, str]]:
    """Figures written in words, as (the words, the figure): English number words, and Chinese numerals
    of two characters or more with at least one digit (`九十九点七`, `百分之九十九点七`, `三千`; `千万`,
    `数十` and `一一` say no figure). Converted by `cn2an` and by the source parser's own word table."""
    found = [(m.group(0), str(value)) for m in _WORD_FIGURE.finditer(text)
             if (value := _word_value(m)) is not None]
    for match in _CHINESE_FIGURE.finditer(text):
        digits = match.group("digits")
        if len(digits) < 2 or not _CHINESE_DIGIT.search(digits):
            continue
        try:
            number = _chinese_number(digits)
        except (ValueError, KeyError, IndexError):
            continue  # not a number cn2an reads (`一二`): prose, not a figure
        found.append((match.group(0), str(number)))
    return found


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def foreign_sentences(text: str, language: Language) -> list[str]:
    """Sentences long enough to judge that read as another language (a field whose sentences switch)."""
    parts = sentences(text)
    if len(parts) < 2:
        return []
    return [
        s for s in parts
        if _letters(s) >= SENTENCE_MIN_LETTERS and not languages.matches(s, language)
    ]


def _letters(sentence: str) -> int:
    """Letters, a CJK character counting as three (it carries about as much text as a short word)."""
    return sum((3 if ord(c) >= 0x2E80 else 1) for c in sentence if c.isalpha())


def _quote(pieces: list[str], limit: int = 3) -> str:
    shown = [piece if len(piece) <= 40 else piece[:37] + "..." for piece in pieces[:limit]]
    return ", ".join(shown) + (", ..." if len(pieces) > limit else "")


def field_problems(
    field: str, name: str, text: str, *, language: Language, source: str, figures: str | None
) -> Iterator[str]:
    """Every rule a field breaks, each as an instruction for a re-ask. `field` labels it (`Field "tldr"`);
    `source` is the title and abstract; `figures` is the text numbers may come from (None: no check)."""
    cap = MAX_CHARS.get(name, max(MAX_CHARS.values()))
    if len(text) > cap:
        yield f"{field} is too long ({len(text)} characters): shorten it to at most {cap} characters."
        return  # the other checks would only quote pieces of an answer that is rejected anyway
    pieces = markup(text, source)
    if pieces:
        yield (
            f"{field} contains HTML or markup ({_quote(pieces)}): write plain text; "
            "no tags, comments, character references or script URLs."
        )
    linked = [link for link in links(text, source) if not any(link.split(" ", 2)[-1] in piece for piece in pieces)]
    if linked:  # links of raw HTML tags are named once, as markup
        yield (
            f"{field} contains links or images that the abstract does not have ({_quote(linked)}): write plain "
            "text; no URLs, web addresses, e-mail addresses, markdown links or images."
        )
    hidden = invisible(text)
    if hidden:
        yield f"{field} contains invisible characters ({', '.join(hidden)}): remove them."
    if figures is not None:
        invented = unknown_numbers(text, figures)
        if invented:
            yield (
                f"{field} has numbers that are not in the abstract ({_quote(invented, 5)}): "
                "copy numbers exactly as the abstract gives them and add none."
            )
    foreign = foreign_sentences(text, language)
    if foreign:
        yield f"{field} switches language ({_quote(foreign, 2)}): write every sentence in {language.name}."
