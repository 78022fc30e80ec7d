"""Pacing requests to what the provider allows: a concurrency cap, an optional request rate, the
provider's own `x-ratelimit-*` budget, and one cool-down shared by every worker after a 429.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from aiolimiter import AsyncLimiter

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


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

    The provider's `remaining` budget is read from each response; requests started after that response
    are subtracted, so the pool slows down *before* the provider answers 429, not after.
    """

    def __init__(
        self,
        concurrency: int,
        rpm: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._limiter = AsyncLimiter(1, 60.0 / rpm) if rpm else None
        self._clock = clock
        self._resume_at = 0.0
        self._remaining: int | None = None
        self._reset_at = 0.0
        self._reset_every = 1.0
        self._started_since_header = 0
        self.in_flight = 0
        self.cooldowns = 0

    def pause(self, seconds: float) -> None:
        """One worker saw Retry-After: hold every worker until then."""
        until = self._clock() + seconds
        if until > self._resume_at:
            self._resume_at = until
            self.cooldowns += 1

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the provider's remaining request budget from a response."""
        remaining = headers.get("x-ratelimit-remaining-requests")
        reset = headers.get("x-ratelimit-reset-requests")
        if remaining is None:
            return
        try:
            self._remaining = int(remaining)
        except ValueError:
            return
        seconds = parse_duration(reset) if reset else None
        self._reset_every = max(seconds if seconds is not None else 1.0, 0.01)
        self._reset_at = self._clock() + self._reset_every
        self._started_since_header = 0

    async def _wait_for_budget(self) -> None:
        while True:
            now = self._clock()
            if now < self._resume_at:
                await asyncio.sleep(self._resume_at - now)
                continue
            budget_spent = (
                self._remaining is not None
                and self._remaining - self._started_since_header <= 0
                and now < self._reset_at
            )
            if budget_spent:
                await asyncio.sleep(max(self._reset_at - now, 0.01))
                if self._clock() >= self._reset_at:
                    # One slot frees at reset: let one request through; its response tells us more.
                    self._remaining = self._started_since_header + 1
                    self._reset_at = self._clock() + self._reset_every
                continue
            return

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a concurrency slot for one request, after every pacing rule agrees."""
        async with self._slots:
            await self._wait_for_budget()
            if self._limiter is not None:
                await self._limiter.acquire()
                await self._wait_for_budget()
            self._started_since_header += 1
            self.in_flight += 1
            try:
                yield
            finally:
                self.in_flight -= 1
