"""Which language a summary is written in, and whether that is the digest's language.

Summaries are technical: a Chinese summary is full of English model names, an English one may gloss a
term in Chinese, and all of them carry LaTeX, URLs and numbers. So the decision is made on the share of
each writing system among the letters left after `strip_noise`, weighting one CJK character as several
Latin letters (it carries about as much text). Only when two candidate languages share a script (English
and German, Russian and Ukrainian) is a statistical classifier consulted, and only on enough text.
"""

from __future__ import annotations

import operator
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import repeat
from typing import Any, NamedTuple

from resummarize.chinese import VARIANTS, han_variant, other_variant
from resummarize.errors import UsageError
from resummarize.langmodel import read_model

#: One character of a script written without spaces between words (kana, Han, Hangul and its jamo):
#: lengths count each as a word, and a failure word in these scripts is found anywhere in a field.
CJK_CHARACTER = re.compile(
    r"[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
)


@dataclass(frozen=True)
class Language:
    """A digest language: display name, ISO 639-1 code and the script it is mostly written in."""

    name: str
    code: str
    script: str


#: name, code, script, other names (lower case; native names included). Add a row to support a language
#: (and a pattern to `_SCRIPTS` if its script is new).
_TABLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("English", "en", "Latin", ("英语", "英文", "anglais", "englisch", "inglés", "ingles")),
    ("Chinese", "zh", "Han", ("中文", "汉语", "漢語", "简体中文", "mandarin", "simplified chinese",
                              "chinese simplified", "simplified-chinese", "zh-hans", "zh-cn", "zh-sg")),
    ("Traditional Chinese", "zh-Hant", "Han", ("繁體中文", "繁体中文", "正體中文", "traditional chinese",
                                               "chinese traditional", "traditional-chinese", "chinese-traditional",
                                               "zh-hant", "zh-tw", "zh-hk", "zh-mo")),
    ("Japanese", "ja", "Kana", ("日本語", "日语", "日文")),
    ("Korean", "ko", "Hangul", ("한국어", "조선어", "韩语", "韓國語")),
    ("Russian", "ru", "Cyrillic", ("русский", "русский язык", "俄语")),
    ("German", "de", "Latin", ("deutsch", "德语", "allemand")),
    ("French", "fr", "Latin", ("français", "francais", "法语")),
    ("Spanish", "es", "Latin", ("español", "espanol", "castellano", "西班牙语")),
    ("Italian", "it", "Latin", ("italiano", "意大利语")),
    ("Portuguese", "pt", "Latin", ("português", "portugues", "brazilian portuguese", "葡萄牙语")),
    ("Arabic", "ar", "Arabic", ("العربية", "阿拉伯语")),
    ("Vietnamese", "vi", "Latin", ("tiếng việt", "tieng viet", "越南语")),
    ("Dutch", "nl", "Latin", ("nederlands",)),
    ("Polish", "pl", "Latin", ("polski",)),
    ("Turkish", "tr", "Latin", ("türkçe", "turkce")),
    ("Indonesian", "id", "Latin", ("bahasa indonesia",)),
    ("Ukrainian", "uk", "Cyrillic", ("українська",)),
    ("Persian", "fa", "Arabic", ("farsi", "فارسی")),
    ("Hebrew", "he", "Hebrew", ("עברית",)),
    ("Hindi", "hi", "Devanagari", ("हिन्दी", "हिंदी")),
    ("Thai", "th", "Thai", ("ไทย", "ภาษาไทย")),
)

LANGUAGES: tuple[Language, ...] = tuple(Language(name, code, script) for name, code, script, _ in _TABLE)

_BY_CODE: dict[str, Language] = {lang.code.lower(): lang for lang in LANGUAGES}
#: Chinese in its two scripts shares the Han letters; which script is told by `han_variant`, not by the
#: classifier, so only Simplified stands for Han here.
_BY_SCRIPT: dict[str, tuple[str, ...]] = {
    script: tuple(lang.code for lang in LANGUAGES if lang.script == script and lang.code != "zh-Hant")
    for script in dict.fromkeys(lang.script for lang in LANGUAGES)
}
_BY_NAME: dict[str, Language] = {
    alias: lang
    for lang, (_, _, _, aliases) in zip(LANGUAGES, _TABLE, strict=True)
    for alias in (lang.name.casefold(), *aliases)
}

#: Letters of each script we count. Greek is left out on purpose: in summaries Greek letters are math symbols.
_SCRIPTS: Mapping[str, re.Pattern[str]] = {
    "Latin": re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+"),
    "Han": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]+"),
    # No U+30FB/U+30FC (middle dot, long-vowel mark): Chinese text borrows them.
    "Kana": re.compile(r"[\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fd-\u30ff\u31f0-\u31ff\uff66-\uff9d]+"),
    "Hangul": re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3131-\u318e]+"),
    "Cyrillic": re.compile(r"[\u0400-\u0481\u048a-\u04ff]+"),
    "Arabic": re.compile(
        r"[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff\u0750-\u077f\ufb50-\ufdfb\ufe70-\ufefc]+"
    ),
    "Hebrew": re.compile(r"[\u05d0-\u05ea\u05f0-\u05f2]+"),
    "Devanagari": re.compile(r"[\u0900-\u0963\u0971-\u097f]+"),
    "Thai": re.compile(r"[\u0e01-\u0e3a\u0e40-\u0e4e]+"),
}
#: Latin letters one character of the script is worth (a Han character is roughly a short word).
_WEIGHT: Mapping[str, int] = {"Han": 3, "Kana": 2, "Hangul": 2}
#: Scripts a language is written in besides its own: Japanese mixes kana with kanji.
_ALSO: Mapping[str, tuple[str, ...]] = {"Kana": ("Han",)}

_NOISE = re.compile(
    r"\$\$.*?\$\$"  # display math
    r"|\$[^$\n]+?\$"  # inline math
    r"|\\\(.*?\\\)|\\\[.*?\\\]"  # \( \) and \[ \] math
    r"|\\begin\{([A-Za-z]+\*?)\}.*?\\end\{\1\}"  # LaTeX environments
    r"|\\[A-Za-z]+\*?|\\[^A-Za-z\s]"  # LaTeX commands and escapes
    r"|(?<![A-Za-z0-9+.-])(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)"  # URLs, ASCII only: Chinese has no spaces
    r"[A-Za-z0-9._~:/?#@!$&'*+,;=%-]*[A-Za-z0-9/#=~_-]"
    r"|```.*?```|`[^`\n]*`"  # code
    r"|\d+(?:[.,]\d+)*",  # numbers
    re.DOTALL,
)

_MIN_UNITS = 10  # weighted letters below which no script decision is made
_OWN_MIN = 0.2  # a non-Latin target needs this share: Latin is tolerated, technical terms are Latin
_FOREIGN_MAX = 0.3  # a Latin target tolerates less than this share of other scripts (glosses)
_DETECT_SHARE = 0.25  # `detect` splits the difference between the two
_KANA_MIN = 3  # kana characters, and their share of kana + kanji, that make a text Japanese
_KANA_SHARE = 0.1
_KANJI_ONLY = 10  # kanji with no kana at all: Chinese, not Japanese
_LANGID_MIN = 40  # letters of one script before the classifier is trusted
_LANGID_CONFIDENCE = 0.9


def _key(value: str) -> str:
    """Normalised spelling of a language name or code: case, width, separators and brackets ignored."""
    text = unicodedata.normalize("NFKC", value).casefold().replace("_", "-")
    return " ".join(re.sub(r"[()\[\],]", " ", text).split())


def resolve(value: str) -> Language:
    """The language a user named, by name (any case, native names too) or ISO 639-1 code with region."""
    key = _key(value)
    found = _BY_NAME.get(key) or _BY_CODE.get(key)
    parts = key.split("-")
    while found is None and len(parts) > 1:  # `zh-Hant-TW` -> `zh-hant`, `en-US` -> `en`
        parts.pop()
        found = _BY_CODE.get("-".join(parts)) or _BY_NAME.get("-".join(parts))
    if found is None:
        raise UsageError(f"unknown language {value!r} (use a name such as English or an ISO 639-1 code)")
    return found


def from_environment(value: str | None) -> Language | None:
    """The language an environment variable names, leniently: `LANGUAGE` may be a POSIX list.

    `en_US:en`, `zh_CN.UTF-8` and upstream's `Chinese` all work; `C`, `POSIX`, empty or unknown
    values give None so that the caller can fall back to its own default.
    """
    for part in (value or "").split(":"):
        locale = re.split(r"[.@]", part.strip(), maxsplit=1)[0]
        if not locale or locale.upper() in {"C", "POSIX"}:
            continue
        try:
            return resolve(locale)
        except UsageError:
            continue
    return None


def strip_noise(text: str) -> str:
    """The text without the parts that are not prose (math, LaTeX, URLs, code, numbers)."""
    return " ".join(_NOISE.sub(" ", text).split())


def _letters(clean: str) -> dict[str, int]:
    """Letters of each script present in an already stripped text."""
    counts = {"Latin": sum(map(len, _SCRIPTS["Latin"].findall(clean)))}
    if not clean.isascii():
        for script, pattern in _SCRIPTS.items():
            if script != "Latin" and (n := sum(map(len, pattern.findall(clean)))):
                counts[script] = n
    return counts


def _units(letters: Mapping[str, int]) -> dict[str, int]:
    return {script: n * _WEIGHT.get(script, 1) for script, n in letters.items()}


def _writing(script: str) -> tuple[str, ...]:
    return (script, *_ALSO.get(script, ()))


def _japanese(letters: Mapping[str, int]) -> bool | None:
    """True when kana mark CJK text as Japanese, False when long kanji text has none, else None."""
    kana, han = letters.get("Kana", 0), letters.get("Han", 0)
    if kana >= _KANA_MIN and kana >= _KANA_SHARE * (kana + han):
        return True
    if kana == 0 and han >= _KANJI_ONLY:
        return False
    return None


class _Classifier(NamedTuple):
    identifier: Any  # py3langid.langid.LanguageIdentifier (untyped)
    codes: frozenset[str]


_LOADING = threading.Lock()
_LOADED: list[_Classifier] = []


@cache
def _classifier() -> _Classifier:
    """py3langid restricted to the languages we know; loaded on first use only (it takes ~0.5 s), once
    even when `preload_classifier` is loading it at the same time."""
    with _LOADING:
        if not _LOADED:
            identifier = read_model()
            codes = frozenset(lang.code for lang in LANGUAGES) & frozenset(identifier.labels)
            identifier.set_languages(sorted(codes))
            _LOADED.append(_Classifier(identifier, codes))
        return _LOADED[0]


def preload_classifier(language: Language | None) -> threading.Thread | None:
    """Load the classifier in a background thread when `language` (None: not known yet) may need it
    and it is not loaded yet. Most of the load is LZMA decompression, which releases the GIL: a repair
    waiting for its answers gets the classifier for free instead of ~0.5 s later, at the first answer
    that needs it."""
    if _LOADED or (language is not None and len(_BY_SCRIPT.get(language.script, ())) <= 1):
        return None
    thread = threading.Thread(target=_classifier, name="load-language-classifier", daemon=True)
    thread.start()
    return thread


def _same_script(clean: str, letters: Mapping[str, int], script: str) -> str | None:
    """The language among those written in `script` that the text reads as, when that can be trusted.

    The classifier's probability is over every known language, a little stricter than over the
    script's alone, and `classify` costs a third less than ranking them all.
    """
    codes = _BY_SCRIPT.get(script, ())
    if len(codes) <= 1:
        return codes[0] if codes else None
    if letters.get(script, 0) < _LANGID_MIN:
        return None
    classifier = _classifier()
    if not classifier.codes.issuperset(codes):
        return None
    code, probability = classifier.identifier.classify(clean)
    return str(code) if code in codes and probability >= _LANGID_CONFIDENCE else None


def _measure(text: str) -> tuple[str, dict[str, int], dict[str, int], int]:
    """The prose of a text, its letters per script, their weights, and the weighted total."""
    clean = strip_noise(text)
    letters = _letters(clean)
    units = _units(letters)
    return clean, letters, units, sum(units.values())


def detect(text: str) -> str | None:
    """ISO 639-1 code of the language the text reads as; None when there is too little to tell."""
    clean, letters, units, total = _measure(text)
    if total < _MIN_UNITS:
        return None
    others = {script: n for script, n in units.items() if script not in ("Latin", "Kana")}
    if "Kana" in units:  # kana and kanji are one writing system here; `_japanese` tells them apart
        others["Han"] = others.get("Han", 0) + units["Kana"]
    script = max(others, key=others.__getitem__) if others else "Latin"
    if script != "Latin" and others[script] < _DETECT_SHARE * total:
        script = "Latin"
    if script == "Han" and _japanese(letters):
        script = "Kana"
    found = _same_script(clean, letters, script)
    return "zh-Hant" if found == "zh" and han_variant(clean) == "zh-Hant" else found


_COMMON_HAN = re.compile(r"[\u4e00-\u9fff]+")
_ANY_KANA = re.compile(r"[\u3040-\u30ff]")  # a superset (with ・ and ー): a hit only means "look closer"
_NON_ASCII_LETTER = re.compile(r"[^\W\d_\x00-\x7f]")
#: English words that German, French, Spanish and Italian prose does not use: a cheap "this is English".
_ENGLISH_WORDS = frozenset((
    "the", "of", "and", "to", "is", "for", "that", "with", "this", "are", "we", "by", "from", "which", "be",
    "our", "its", "it", "can", "these", "at", "has", "have", "been", "than", "their", "into", "using", "show",
    "shows", "while", "when", "how"))


def _obviously(text: str, language: Language) -> bool:
    """A sufficient condition for `matches`, checked on the raw text so most fields skip the full path.

    Han: stripping noise only removes non-Han characters, so a Han share computed against every other
    character (weighted as heavily as Han) is a lower bound of the real one. English: text with no
    letter outside ASCII (`±`, `×` and curly quotes are fine) and enough English function words needs
    no classifier."""
    if language.script == "Han":
        han = len(text) - len(_COMMON_HAN.sub("", text))  # a lower bound: the common block only
        return han >= 4 and han >= _OWN_MIN * len(text) and not _ANY_KANA.search(text)
    if language.code == "en" and (text.isascii() or not _NON_ASCII_LETTER.search(text)):
        words = text.lower().split()
        hits = sum(word in _ENGLISH_WORDS for word in words)
        return hits >= 2 and hits >= 0.08 * len(words)
    return False


#: UTF-8 lead bytes of U+5000-U+9FFF, all in the common Han block (a lead byte occurs nowhere else).
#: `translate` keeps them and NUL, the separator, and drops every other byte.
_NOT_HAN_LEAD_OR_NUL = bytes(sorted(set(range(1, 256)) - set(range(0xE5, 0xEA))))
#: UTF-8 of U+3040-U+30FF: the same test as `_ANY_KANA`, on bytes.
_KANA_BYTES = re.compile(rb"\xe3[\x81-\x83]")


def plainly_han(texts: Sequence[str]) -> bool:
    """`plainly_han_each` of every text."""
    return all(plainly_han_each(texts))


def plainly_han_each(texts: Sequence[str]) -> list[bool]:
    """For each text, a sufficient condition for `matches(text, <a Han language>)`, in a few C-level
    passes over all the texts' UTF-8 bytes at once (a scan passes a whole digest's fields):
    `_obviously`'s test with U+5000-U+9FFF (a lower bound of the common Han block it counts) counted
    by their lead bytes. Most Chinese fields pass here and skip every regex."""
    if not texts:
        return []
    joined = "\0".join(texts)
    if joined.count("\0") != len(texts) - 1:  # a NUL inside a text would misplace the separators
        return ["\0" not in text and plainly_han_each([text])[0] for text in texts]
    data = joined.encode("utf-8", "surrogatepass")
    counts = data.translate(None, _NOT_HAN_LEAD_OR_NUL).split(b"\0")
    lengths = list(map(len, texts))
    enough = map(operator.ge, map(len, counts), map(max, repeat(4), map(_OWN_MIN.__mul__, lengths)))
    if not _KANA_BYTES.search(data):
        return list(enough)
    return [fits and not _ANY_KANA.search(text) for fits, text in zip(enough, texts, strict=True)]


def plainly_written_each(texts: Sequence[str], language: Language) -> list[bool]:
    """For each text, True only when `matches` holds, told by the cheap tests alone (False: look closer)."""
    if language.script == "Han":
        return [fits and not other for fits, other in
                zip(plainly_han_each(texts), other_variant(texts, language.code), strict=True)]
    if language.code == "en":
        return list(map(_obviously, texts, repeat(language)))
    return [False] * len(texts)


def matches_many(texts: Sequence[str], language: Language) -> list[bool]:
    """`matches` for each of several texts (an entry's fields); for a Han target one pass over all
    of them usually settles it.

    Sound bound: a text's Han characters are at least its length, minus its ASCII characters, minus
    every non-ASCII character of all the texts that is not (common) Han.
    """
    if language.script != "Han" or len(texts) < 2:
        return [matches(text, language) for text in texts]
    if plainly_han(texts):
        return [not other for other in other_variant(texts, language.code)]
    joined = "\n".join(texts)
    if _ANY_KANA.search(joined):
        return [matches(text, language) for text in texts]
    ascii_counts = [len(text.encode("ascii", "ignore")) for text in texts]
    han = len(joined) - len(_COMMON_HAN.sub("", joined))
    spare = sum(len(text) for text in texts) - sum(ascii_counts) - han
    return [
        ((len(text) - ascii - spare >= max(4, _OWN_MIN * len(text))) or matches(text, language)) and not other
        for text, ascii, other in zip(texts, ascii_counts, other_variant(texts, language.code), strict=True)
    ]


def matches(text: str, language: Language) -> bool:
    """True unless the text clearly reads as another language than `language`.

    Short, mixed or ambiguous text matches: flagging a good summary costs a needless rewrite, while a
    missed one is still visible to the reader.
    """
    if VARIANTS.get(language.code) is not None and other_variant([text], language.code)[0]:
        return False  # a Traditional Chinese digest with Simplified summaries, or the other way round
    if _obviously(text, language):
        return True
    clean, letters, units, total = _measure(text)
    if total < _MIN_UNITS:
        return True
    own = sum(units.get(script, 0) for script in _writing(language.script)) / total
    if (own <= 1 - _FOREIGN_MAX) if language.script == "Latin" else (own < _OWN_MIN):
        return False
    japanese = _japanese(letters)
    if (language.script == "Han" and japanese is True) or (language.script == "Kana" and japanese is False):
        return False
    if language.code not in _BY_SCRIPT.get(language.script, ()):
        return True  # not one of ours: the classifier cannot tell it from its neighbours
    found = _same_script(clean, letters, language.script)
    return found is None or found == language.code


def prevailing(texts: Iterable[str]) -> Language | None:
    """The language most of `texts` read as, one vote each; None when not one of them can be told.

    A digest's own summaries say what language it is in better than any default does.
    """
    votes = Counter(code for text in texts if (code := detect(text)) is not None)
    return _BY_CODE[votes.most_common(1)[0][0].lower()] if votes else None
