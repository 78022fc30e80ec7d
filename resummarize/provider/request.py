"""What one entry asks the model (`SummaryRequest`) and what comes back (`Outcome`).

Kept apart from `summarize` so that planning a run (and scanning) does not import the OpenAI SDK.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, model_validator

from resummarize.language import Language
from resummarize.report import Usage

#: Longer than any real abstract (arXiv accepts 1,920 characters; the longest of 11,256 papers in
#: upstream's data is 3,488): an abstract past it is cut when the question is made, and the cut is reported.
MAX_ABSTRACT = 6_000


class SummaryRequest(BaseModel):
    """What one entry needs from the model.

    The abstract is cut to `MAX_ABSTRACT` here, once: the model is asked about the cut text and its answer
    is judged against the same text (judging a 50 MB abstract took minutes before the one request)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    paper_id: str
    title: str
    abstract: str
    language: Language
    keys: tuple[str, ...]
    strategy: str = "regenerate"
    existing: dict[str, str] | None = None
    #: The abstract's length before it was cut to `MAX_ABSTRACT`; None when it is whole.
    cut_from: int | None = None

    @model_validator(mode="after")
    def _cut(self) -> SummaryRequest:
        if len(self.abstract) > MAX_ABSTRACT:
            self.cut_from, self.abstract = len(self.abstract), self.abstract[:MAX_ABSTRACT]
        return self

    @property
    def note(self) -> str | None:
        """What the report says of a cut abstract."""
        if self.cut_from is None:
            return None
        return f"abstract cut to {MAX_ABSTRACT:,} of its {self.cut_from:,} characters"


class Outcome(BaseModel):
    """A validated answer (file keys) and what it cost."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    fields: dict[str, str]
    attempts: int
    usage: Usage = Usage()
