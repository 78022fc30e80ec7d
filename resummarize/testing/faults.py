"""How the fake provider misbehaves: the kinds of fault and the thread-safe plan deciding who meets which."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

from resummarize.errors import UsageError


class Fault(StrEnum):
    """One way a provider misbehaves; a `FaultPlan` decides which request meets which."""

    HTTP_500 = "http_500"
    HTTP_503 = "http_503"
    HTTP_429 = "http_429"
    TIMEOUT = "timeout"
    RESET = "reset"
    BAD_BODY = "bad_body"
    MALFORMED_JSON = "malformed_json"
    LATEX_BACKSLASHES = "latex_backslashes"
    FENCED = "fenced"
    WRONG_LANGUAGE = "wrong_language"
    PLACEHOLDER = "placeholder"
    EMPTY = "empty"
    LENGTH = "length"
    REFUSAL = "refusal"
    HTML = "html"
    # Answers that passed validation once and that a reader's page would run or show wrongly.
    HOSTILE_IMG = "hostile_img"
    HOSTILE_SVG = "hostile_svg"
    HOSTILE_IFRAME = "hostile_iframe"
    HOSTILE_COMMENT = "hostile_comment"
    HUGE_WORD = "huge_word"
    BIDI = "bidi"
    INVENTED_NUMBERS = "invented_numbers"
    # Links and images in the forms a regex misses, but GitHub renders live in a markdown digest.
    LINK_NESTED = "link_nested"
    LINK_ESCAPED = "link_escaped"
    LINK_CODE = "link_code"
    LINK_IN_PARENS = "link_in_parens"
    IMAGE_IN_DOLLARS = "image_in_dollars"
    BARE_URL = "bare_url"
    WWW_NAME = "www_name"
    SPELLED_NUMBERS = "spelled_numbers"
    REFERENCE_NO_SEMICOLON = "reference_no_semicolon"
    MIXED_LANGUAGE = "mixed_language"
    BAD_KEY = "bad_key"
    CONTEXT_LENGTH = "context_length"
    SWAPPED = "swapped"  # another paper's summary and evidence phrase (a cached answer under the wrong key)
    FOREIGN_EVIDENCE = "foreign_evidence"  # this paper's summary, another abstract's evidence phrase


#: Faults a client should survive by asking again: the default kinds of `FaultPlan.random` (the
#: grounding faults, `swapped` and `foreign_evidence`, are asked for by name).
RECOVERABLE: tuple[Fault, ...] = tuple(
    f for f in Fault if f not in {Fault.TIMEOUT, Fault.BAD_KEY, Fault.CONTEXT_LENGTH, Fault.SWAPPED,
                                  Fault.FOREIGN_EVIDENCE}
)
_SERVER_ERROR = (500, "The server had an error while processing your request.", "server_error", None)
#: Faults answered with an HTTP error; connection-level ones (timeout, reset, bad_body) are a 500 in a batch.
ERRORS: dict[Fault, tuple[int, str, str, str | None]] = {
    Fault.HTTP_500: _SERVER_ERROR,
    Fault.HTTP_503: (503, "The engine is currently overloaded, try again later.", "server_error", None),
    Fault.HTTP_429: (429, "Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    Fault.BAD_KEY: (401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key"),
    Fault.CONTEXT_LENGTH: (400, "This model's maximum context length is 8192 tokens.", "invalid_request_error",
                           "context_length_exceeded"),
    Fault.TIMEOUT: _SERVER_ERROR,
    Fault.RESET: _SERVER_ERROR,
    Fault.BAD_BODY: _SERVER_ERROR,
}


def error_body(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    """An error in OpenAI's wire format."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class FaultPlan:
    """Decides, thread-safely, which fault (if any) each request meets.

    A plan sees the global arrival number and the paper's own attempt number, so per-paper and random
    plans give every paper the same story whatever order concurrent requests arrive in.
    """

    def __init__(self, decide: Callable[[str, int, int], Fault | None]) -> None:
        self._decide = decide
        self._lock = threading.Lock()
        self._arrivals = 0
        self._attempts: dict[str, int] = {}

    @classmethod
    def sequence(cls, faults: Iterable[Fault | str | None]) -> FaultPlan:
        """The n-th request meets the n-th fault (`None`: healthy); every later request is healthy."""
        plan = [None if f is None else Fault(f) for f in faults]
        return cls(lambda _paper, n, _attempt: plan[n] if n < len(plan) else None)

    @classmethod
    def per_paper(cls, faults: Mapping[str, Iterable[Fault | str | None]]) -> FaultPlan:
        """A paper's k-th request meets its k-th fault; later requests and other papers are healthy."""
        plans = {paper: [None if f is None else Fault(f) for f in kinds] for paper, kinds in faults.items()}

        def decide(paper: str, _n: int, attempt: int) -> Fault | None:
            mine = plans.get(paper, [])
            return mine[attempt] if attempt < len(mine) else None

        return cls(decide)

    @classmethod
    def random(cls, *, rate: float, kinds: Iterable[Fault | str] = RECOVERABLE, seed: int = 0) -> FaultPlan:
        """Each (paper, attempt) meets a fault with probability `rate`, drawn from a hash of the seed."""
        choices = [Fault(k) for k in kinds]
        if not choices or not 0.0 <= rate <= 1.0:
            raise UsageError("FaultPlan.random needs 0 <= rate <= 1 and at least one kind")

        def decide(paper: str, _n: int, attempt: int) -> Fault | None:
            digest = hashlib.sha256(f"{seed}\0{paper}\0{attempt}".encode()).digest()
            if int.from_bytes(digest[:8], "big") / 2**64 >= rate:
                return None
            return choices[int.from_bytes(digest[8:16], "big") % len(choices)]

        return cls(decide)

    @classmethod
    def always(cls, fault: Fault | str) -> FaultPlan:
        """Every request meets `fault` (a wrong key, a dead provider)."""
        kind = Fault(fault)
        return cls(lambda _paper, _n, _attempt: kind)

    def next(self, paper_id: str | None) -> Fault | None:
        """The fault for the next request about `paper_id` (requests without an id share one counter)."""
        key = paper_id or ""
        with self._lock:
            arrival, self._arrivals = self._arrivals, self._arrivals + 1
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        return self._decide(key, arrival, attempt)
