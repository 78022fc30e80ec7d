"""Upstream's file naming: `data/DATE.jsonl` (raw crawl), `DATE_AI_enhanced_<Language>.jsonl`, `DATE.md`."""

from __future__ import annotations

import re
from pathlib import PurePath

#: The digest language an enhanced file's name declares.
LANGUAGE_IN_NAME = re.compile(r"_AI_enhanced_(.+)\.jsonl$")
#: An enhanced file's name: its day (the raw crawl is `<day>.jsonl`) and its language.
ENHANCED_NAME = re.compile(r"(?P<day>.+)_AI_enhanced_(?P<language>[^/\\]+)\.jsonl")
#: The UTF-8 byte-order mark a file may start with; kept on write, ignored when reading.
BOM = b"\xef\xbb\xbf"


def day_of(path: str | PurePath) -> tuple[str, str]:
    """The day a digest belongs to, as (folder, day): `DATE_AI_enhanced_<L>.jsonl` and `DATE.md` beside it
    are one day's papers written twice. Any other file is a day of its own."""
    path = PurePath(path)
    enhanced = ENHANCED_NAME.fullmatch(path.name)
    if enhanced is not None:
        return str(path.parent), enhanced["day"]
    if path.suffix == ".md":
        return str(path.parent), path.stem
    return str(path.parent), path.name
