"""What one entry asks the model (`SummaryRequest`) and what comes back (`Outcome`).

Kept apart from `summarize` so that planning a run (and scanning) does not import the OpenAI SDK.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from resummarize.language import Language
from resummarize.report import Usage


class SummaryRequest(BaseModel):
    """What one entry needs from the model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    paper_id: str
    title: str
    abstract: str
    language: Language
    keys: tuple[str, ...]
    strategy: str = "regenerate"
    existing: dict[str, str] | None = None


class Outcome(BaseModel):
    """A validated answer (file keys) and what it cost."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fields: dict[str, str]
    attempts: int
    usage: Usage = Usage()
