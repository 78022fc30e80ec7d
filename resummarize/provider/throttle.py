"""Pacing requests to what the provider allows: a concurrency cap, an optional request rate, the
provider's own `x-ratelimit-*` budget, and one cool-down shared by every worker after a 429.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
#: Request limits are per minute; a little margin absorbs the trip to the provider and clock skew.
WINDOW = 60.0
MARGIN = 0.1


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def parse_duration(value: str) -> float | None:
    """OpenAI writes reset times as `1s`, `6m0s`, `350ms`; plain numbers are seconds."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:  # `inf` would hold the pool forever, `nan` and negatives mean nothing
        return number if math.isfinite(number) and number >= 0 else None
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


class Throttle:
    """Gate every request passes through.

    Three signals, all honoured: a shared cool-down after a 429 (Retry-After), the provider's
    `remaining` budget (requests started since that response are subtracted, so the pool slows down
    *before* a 429, not after), and, once the provider has named its per-minute limit, our own record
    of what we sent in the last minute, so that the pool resumes the moment the window frees a slot.
    """

    def __init__(
        self,
        concurrency: int,
        rpm: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._spacing = 60.0 / rpm if rpm else 0.0
        self._next_start = 0.0
        self._clock = clock
        self._sleep = sleep
        self._resume_at = 0.0
        self._remaining: int | None = None
        self._reset_at = 0.0
        self._started_since_header = 0
        self._limit: int | None = None
        self._sent: deque[float] = deque()
        # The token window, kept the same way: the budget left, and once named, our record of the minute.
        self._token_limit: int | None = None
        self._tokens_left: int | None = None
        self._tokens_reset_at = 0.0
        self._tokens_since_header = 0
        self._tokens_sent: deque[tuple[float, int]] = deque()
        self.in_flight = 0
        self.cooldowns = 0

    def pause(self, seconds: float) -> None:
        """One worker saw Retry-After: hold every worker until then."""
        until = self._clock() + seconds
        if until > self._resume_at:
            self._resume_at = until
            self.cooldowns += 1

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the provider's request and token limits and what is left of them from a response."""
        limit, left, reset_at = self._budget(headers, "requests")
        self._limit = limit or self._limit
        if left is not None:
            self._remaining, self._reset_at, self._started_since_header = left, reset_at, 0
        limit, left, reset_at = self._budget(headers, "tokens")
        self._token_limit = limit or self._token_limit
        if left is not None:
            self._tokens_left, self._tokens_reset_at, self._tokens_since_header = left, reset_at, 0

    def _budget(self, headers: Mapping[str, str], kind: str) -> tuple[int | None, int | None, float]:
        """`x-ratelimit-{limit,remaining,reset}-KIND`: the per-minute limit, what is left, when it resets."""
        limit = _integer(headers.get(f"x-ratelimit-limit-{kind}"))
        reset = headers.get(f"x-ratelimit-reset-{kind}")
        seconds = parse_duration(reset) if reset else None
        return (limit if limit is not None and limit > 0 else None,
                _integer(headers.get(f"x-ratelimit-remaining-{kind}")),
                self._clock() + (seconds if seconds is not None else 1.0))

    def _token_delay(self, now: float, tokens: int) -> float:
        """Seconds until `tokens` more fit the provider's token budget and per-minute token window."""
        delays = [0.0]
        if self._tokens_left is not None and self._tokens_left - self._tokens_since_header < tokens:
            delays.append(self._tokens_reset_at - now)
        if self._token_limit is not None:
            while self._tokens_sent and self._tokens_sent[0][0] <= now - WINDOW:
                self._tokens_sent.popleft()
            spent = sum(n for _, n in self._tokens_sent)
            for sent_at, n in self._tokens_sent:  # the oldest sends leave the window first
                if spent + tokens <= self._token_limit:
                    break
                spent -= n
                delays.append(sent_at + WINDOW + MARGIN - now)
        return max(delays)

    def _delay(self, now: float, tokens: int = 0) -> float:
        """Seconds until every pacing rule lets one more request go (0: go now)."""
        delays = [self._resume_at - now, self._next_start - now, self._token_delay(now, tokens)]
        if self._remaining is not None and self._remaining - self._started_since_header <= 0:
            delays.append(self._reset_at - now)  # past the reset, the budget no longer binds
        if self._limit is not None:
            while self._sent and self._sent[0] <= now - WINDOW:
                self._sent.popleft()
            if len(self._sent) >= self._limit:
                delays.append(self._sent[-self._limit] + WINDOW + MARGIN - now)
        return max(delays)

    async def _wait_for_budget(self, tokens: int) -> None:
        while (delay := self._delay(self._clock(), tokens)) > 0:
            await self._sleep(delay)

    @asynccontextmanager
    async def slot(self, tokens: int = 0) -> AsyncIterator[None]:
        """Hold a concurrency slot for one request of about `tokens` tokens, after every pacing rule agrees."""
        async with self._slots:
            await self._wait_for_budget(tokens)
            now = self._clock()
            self._tokens_since_header += tokens
            if tokens and self._token_limit is not None:
                self._tokens_sent.append((now, tokens))
            self._next_start = now + self._spacing  # `--rpm`: even spacing, no burst at the start
            self._started_since_header += 1
            self._sent.append(now)
            if self._limit is None and len(self._sent) > 4096:
                self._sent.popleft()  # no limit known yet: keep the record bounded
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1
