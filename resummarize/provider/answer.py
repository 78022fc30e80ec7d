"""A model's answer: parsed without losing LaTeX, then checked before anything is written to a digest.

Models write LaTeX with single backslashes inside JSON strings; a plain JSON parser turns `\\beta` into a
backspace and `eta`. We double such backslashes before parsing, and treat any control character that
still comes out as damage. Every problem is reported at once, phrased as an instruction, because the
message goes back to the model in a re-ask.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Any, NamedTuple

import json_repair
from pydantic import BaseModel, ConfigDict, create_model

from resummarize import language as languages
from resummarize import safety
from resummarize.detect import Placeholders, is_refusal
from resummarize.digest.model import FIELDS, canonical
from resummarize.errors import ValidationFailure
from resummarize.evidence import EVIDENCE_KEY
from resummarize.language import CJK_CHARACTER, Language


@cache
def schema_model(keys: tuple[str, ...]) -> type[BaseModel]:
    """The strict answer model for an entry's own field set (`tldr`, or the older `task`): no defaults
    and no extra keys, as structured outputs require."""
    spec: dict[str, Any] = {key: (str, ...) for key in (*keys, EVIDENCE_KEY)}  # evidence: checked, not kept
    model: type[BaseModel] = create_model("Summary", __config__=ConfigDict(extra="forbid"), **spec)
    return model


@cache
def _schema_text(keys: tuple[str, ...]) -> str:
    schema = schema_model(keys).model_json_schema()
    schema["additionalProperties"] = False
    return json.dumps(schema)


def json_schema(keys: Sequence[str]) -> dict[str, Any]:
    """A fresh copy each call (callers may mutate it); building the model costs ~3 ms, so it is cached."""
    schema: dict[str, Any] = json.loads(_schema_text(tuple(keys)))
    return schema


#: What each field should hold, for instructions in re-asks.
DESCRIPTIONS: Mapping[str, str] = {
    "tldr": "one or two sentences summarising the paper",
    "motivation": "one to three sentences on the problem and why it matters",
    "method": "one to three sentences on what the authors propose or do",
    "result": "one to three sentences on what they found",
    "conclusion": "one to three sentences on what the paper concludes",
}
#: Length bounds: (words, CJK units) per field; every field needs at least MIN_CHARS characters.
MAX_LENGTH: Mapping[str, tuple[int, int]] = {
    name: (60, 200) if name == "tldr" else (120, 400) for name in FIELDS
}
MIN_CHARS = 3

# A backslash and what follows it: a JSON escape kept as is, or a run of letters (a LaTeX command), or
# anything else (`\,`, `\{`, `\%`: LaTeX, never valid JSON).
_BACKSLASH = re.compile(r'\\(?:(?P<escape>["\\/]|u[0-9A-Fa-f]{4})|(?P<word>[A-Za-z]*))')
# LaTeX commands that start with `n` and a capital; any other `\n` + capital is a newline before a word.
_N_CAPITAL_COMMANDS = frozenset({"nLeftarrow", "nRightarrow", "nLeftrightarrow", "nVdash", "nVDash"})
# Commands whose backslash a JSON parser turns into TAB / LF / CR (`\b` and `\f` are damage anyway).
_EATEN = {
    "\t": "au|heta|imes|ext|extit|extbf|extrm|exttt|extsf|extsc|ilde|o|op|riangle|anh|frac",
    "\n": "abla|u|eq|ot|otin|i|ewline|oindent|mid|leq|geq|orm|olimits|onumber|atural|ewcommand|parallel",
    "\r": "ho|ight|ightarrow|angle|m|ceil|floor|brace|vert|Vert|ightleftharpoons",
}
_EATEN_LATEX = re.compile("|".join(f"{re.escape(c)}(?:{tails})(?![A-Za-z])" for c, tails in _EATEN.items()))
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
# Markdown that changes a digest's structure; emphasis and inline enumerations ("1) ... 2) ...") are
# harmless and common in good summaries, so they pass. Links and images are `safety.links`'s: judged on
# what the renderer makes of the field, every syntax at once.
_MARKDOWN: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\s*#{1,6}(?:\s|$)"), "a heading marker (#)"),
    (re.compile(r"```|~~~"), "a code fence"),
)


class Source(NamedTuple):
    """What an answer may quote (title and abstract) and where its numbers may come from (None: unchecked)."""

    text: str
    figures: str | None


def clean_text(value: str) -> str:
    """One line, single spaces: digests hold each field on one line and models add stray breaks."""
    return " ".join(value.split())


def protect_latex(text: str) -> str:
    """Double the backslashes that start LaTeX, keeping real JSON escapes (`\\n `, `\\"`, `\\u00e9`).

    A backslash and two or more letters is a LaTeX command (`\\nabla`, `\\tau`); a lone `b f n r t`
    is an escape. One exception: `\\n` before a capitalised word is a line break (`\\nThe`).
    """

    def replace(match: re.Match[str]) -> str:
        word = match.group("word")
        if word is None or (len(word) == 1 and word in "bfnrt"):
            return match.group(0)
        if len(word) > 1 and word[0] == "n" and word[1].isupper() and word not in _N_CAPITAL_COMMANDS:
            return match.group(0)
        return "\\\\" + word

    return _BACKSLASH.sub(replace, text)


def parse_answer(text: str) -> dict[str, object]:
    """The JSON object in a model's answer, repaired if needed (fences, trailing commas, truncation)."""
    protected = protect_latex(text)
    value: object
    try:
        value = json.loads(protected, strict=False)
    except json.JSONDecodeError:
        value = json_repair.loads(protected)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict) or not value:
        raise ValidationFailure(
            [f"Reply with only a JSON object with the keys {', '.join(FIELDS)} (no prose around it)."]
        )
    return {str(key): item for key, item in value.items()}


def validate_fields(
    raw: Mapping[str, object], *, language: Language, placeholders: Placeholders, abstract: str,
    title: str = "", figures: str = "",
) -> dict[str, str]:
    """The five fields as clean one-line strings, or a ValidationFailure naming every problem.

    The title and abstract are what the answer may quote (markup included) and take numbers from;
    `figures` is more text numbers may come from (a translation's existing fields), never markup.
    An empty abstract skips the number check. The arXiv id is never a source.
    """
    problems: list[str] = []
    values: dict[str, object] = {}
    extra: list[str] = []
    for key, value in raw.items():
        name = canonical(key.strip().lower())
        if name not in FIELDS:
            extra.append(key)
        elif name in values:
            problems.append(f'Give the field "{name}" only once.')
        else:
            values[name] = value
    source = Source(f"{title}\n{abstract}", f"{title}\n{abstract}\n{figures}" if abstract.strip() else None)
    for name in FIELDS:
        if name not in values:
            problems.append(f'Add the missing field "{name}": {DESCRIPTIONS[name]}.')
        else:
            problems.extend(_field_problems(name, values[name], language, placeholders, source))
    if extra:
        listed = ", ".join(f'"{key}"' for key in extra)
        problems.append(f"Remove the extra keys {listed}: use exactly the keys {', '.join(FIELDS)}.")
    if problems:
        raise ValidationFailure(problems)
    return {name: clean_text(str(values[name])) for name in FIELDS}


def _field_problems(
    name: str, value: object, language: Language, placeholders: Placeholders, source: Source
) -> list[str]:
    """Every problem of one field, each an instruction naming the field."""
    field = f'Field "{name}"'
    if not isinstance(value, str):
        return [f"{field} must be a string of plain text, not {type(value).__name__}."]
    text = clean_text(value)
    if not text:
        return [f"{field} is empty: write {DESCRIPTIONS[name]}."]
    if is_refusal(text):
        return [f"{field} is a refusal notice: write {DESCRIPTIONS[name]} from the public abstract."]
    if placeholders.matches(text):
        return [f'{field} is a placeholder ("{text}"): write {DESCRIPTIONS[name]} from the abstract.']
    problems = list(_damage(field, value))
    if len(text) < MIN_CHARS:
        problems.append(f"{field} is too short: write {DESCRIPTIONS[name]}.")
    problems.extend(_length(field, name, text, language))
    problems.extend(_markup(field, text))
    if not languages.matches(text, language):
        problems.append(f"{field} is not in {language.name}: write it in {language.name}.")
    problems.extend(
        safety.field_problems(field, name, text, language=language, source=source.text, figures=source.figures)
    )
    return problems


def _damage(field: str, value: str) -> Iterator[str]:
    """Control characters other than plain whitespace (and U+FFFD, lost bytes), or a tab or line break
    where a LaTeX backslash was: what a JSON parser leaves of `\\beta`, `\\frac`, `\\tau`, `\\nabla`."""
    printable = value.isprintable() and "\ufffd" not in value  # no control character: the common case, in C
    bad = [] if printable else sorted({c for c in value if _is_damage(c)})
    if bad or _EATEN_LATEX.search(value):
        codes = ", ".join(f"U+{ord(c):04X}" for c in bad) or "a tab or line break"
        yield (
            f"{field} contains control characters ({codes}), probably LaTeX whose backslash was read as "
            'a JSON escape: write each LaTeX backslash as \\\\ in the JSON (for example "$\\\\beta$").'
        )


def _is_damage(char: str) -> bool:
    return char == "\ufffd" or (unicodedata.category(char) == "Cc" and char not in "\t\n\r")


def _length(field: str, name: str, text: str, language: Language) -> Iterator[str]:
    words, cjk_units = MAX_LENGTH[name]
    if is_cjk(language):
        units = len(CJK_CHARACTER.findall(text)) + len(CJK_CHARACTER.sub(" ", text).split())
        if units > cjk_units:
            yield f"{field} is too long ({units} characters): shorten it to at most {cjk_units} characters."
    elif len(text.split()) > words:
        yield f"{field} is too long ({len(text.split())} words): shorten it to at most {words} words."


def _markup(field: str, text: str) -> Iterator[str]:
    """Markdown structure that would change how a digest renders or parses (HTML is `safety`'s)."""
    prose = _MATH.sub(" ", text)
    for pattern, what in _MARKDOWN:
        if pattern.search(prose):
            yield f"{field} contains markdown ({what}): write plain text without markdown."


def is_cjk(language: Language) -> bool:
    """Languages written without spaces between words: length is counted in characters."""
    return language.script in ("Han", "Kana", "Hangul")
