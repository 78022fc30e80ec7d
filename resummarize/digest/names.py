"""Upstream's file naming: `data/DATE.jsonl` (raw crawl), `DATE_AI_enhanced_<Language>.jsonl`, `DATE.md`."""

from __future__ import annotations

import re

#: The digest language an enhanced file's name declares.
LANGUAGE_IN_NAME = re.compile(r"_AI_enhanced_(.+)\.jsonl$")
#: An enhanced file's name: its day (the raw crawl is `<day>.jsonl`) and its language.
ENHANCED_NAME = re.compile(r"(?P<day>.+)_AI_enhanced_(?P<language>[^/\\]+)\.jsonl")
#: The UTF-8 byte-order mark a file may start with; kept on write, ignored when reading.
BOM = b"\xef\xbb\xbf"
