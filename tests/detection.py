"""The per-field view of detection that tests reason in, built on the one entry-level rule."""

from __future__ import annotations

from resummarize.detect import Placeholders, check_entry
from resummarize.digest.model import Entry
from resummarize.language import Language


def field_reason(text: str, language: Language, placeholders: Placeholders) -> str | None:
    """What detection says of one field, or None when it is fine or is a refusal (the entry's other
    fields are missing and count as empty; they do not change this field's reason)."""
    return check_entry(Entry(id="x", fields={"method": text}), language, placeholders).fields.get("method")
