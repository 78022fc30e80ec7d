"""Chinese in its two scripts: Simplified (`zh`) and Traditional (`zh-Hant`) share most characters, and
only a table of those each script writes alone tells them apart (hanzidentifier's, from CC-CEDICT)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

#: Each script's code and the other one's.
VARIANTS = {"zh": "zh-Hant", "zh-Hant": "zh"}


@cache
def _only_in(code: str) -> re.Pattern[str]:
    """Any of the Chinese characters only one script writes (`zh`: Simplified, `zh-Hant`: Traditional),
    from hanzidentifier's CC-CEDICT tables; loaded on first use (~80 ms). A character class, searched in
    C without making a string per character (six times faster than a set's `isdisjoint` on a day)."""
    from hanzidentifier import helpers

    simplified, traditional = helpers.SIMPLIFIED_CHARACTERS, helpers.TRADITIONAL_CHARACTERS
    only = simplified - traditional if code == "zh" else traditional - simplified
    return re.compile("[" + "".join(re.escape(ch) for ch in sorted(only)) + "]")


def _writes(code: str, text: str) -> bool:
    return _only_in(code).search(text) is not None


def han_variant(text: str) -> str | None:
    """`zh` or `zh-Hant` when the text holds characters only that script writes and none only the other
    does; None when its characters are shared by both, mixed or absent."""
    for code, other in VARIANTS.items():
        if _writes(code, text) and not _writes(other, text):
            return code
    return None


def other_variant(texts: Sequence[str], code: str) -> list[bool]:
    """For each text, whether it is plainly written in the other script of Chinese than `code`'s
    (one C-level pass over all the texts settles the common case: none is)."""
    other = VARIANTS.get(code)
    if other is None or not any(_writes(other, text) for text in texts):
        return [False] * len(texts)
    return [han_variant(text) == other for text in texts]
