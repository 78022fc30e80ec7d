"""Pacing requests to what the provider allows: a concurrency window that adapts (AIMD), an optional
request rate, the provider's own `x-ratelimit-*` budget, and one cool-down shared by every worker after
a 429. Every wait the provider asks for is announced, and one longer than the cap stops the run.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager

from resummarize.errors import ProviderError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
#: Request limits are per minute; a little margin absorbs the trip to the provider and clock skew.
WINDOW = 60.0
MARGIN = 0.1
#: The longest wait the provider may ask for (Retry-After, `x-ratelimit-reset-*`) before the run stops.
MAX_WAIT = 600.0
#: Waits shorter than this are not announced: they are the ordinary rhythm of a rate limit.
ANNOUNCE = 1.0
#: An answer that took more than this share of the request's deadline waited in the server's queue (or
#: the server is too slow for several at once): a congestion signal like a timeout, before the timeouts.
QUEUED = 0.5


def _integer(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def human(seconds: float) -> str:
    """`0.35 s`, `42 s`, `12 min`, `99999 h`: a wait as a person reads it."""
    if seconds < 10:
        return f"{seconds:.2g} s"
    if seconds < 600:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 36000 else f"{seconds / 3600:.0f} h"


def too_long(seconds: float, header: str, cap: float) -> ProviderError:
    """The run stops when the provider asks for a wait longer than the cap: a cron job must not hang."""
    return ProviderError(f"the provider asks to wait {human(seconds)} ({header}), more than the "
                         f"{human(cap)} allowed (--max-wait); stopping the run")


class Window:
    """How many requests may be in flight, adapted to the server (additive increase, multiplicative
    decrease, as TCP does). It starts at the configured cap, so a cloud provider gets its full window at
    once; each sign of overload halves it (once per round: signs from requests sent before the last cut
    say nothing new), and each answer in time widens it by 1/width, so a full round of answers adds one.
    A cut may go further, down to `bound`: see `Throttle`. A one-slot local server settles near one or
    two at a time instead of queueing requests to death.
    """

    def __init__(self, ceiling: int) -> None:
        self.ceiling = ceiling
        self.width = float(ceiling)
        self.epoch = 0
        self.cuts = 0
        self.held = 0
        self._freed = asyncio.Event()

    @property
    def size(self) -> int:
        return max(1, int(self.width))

    async def acquire(self) -> None:
        while self.held >= self.size:
            freed = self._freed
            await freed.wait()
        self.held += 1

    def release(self) -> None:
        self.held -= 1
        self._wake()

    def _wake(self) -> None:
        """Wake every waiter to look again (release is synchronous: no wake-up is lost to a cancellation)."""
        freed, self._freed = self._freed, asyncio.Event()
        freed.set()

    def cut(self, epoch: int, bound: float = math.inf) -> None:
        """Halve the window (at most to `bound`) for a sign of overload from a request sent in round `epoch`."""
        if epoch == self.epoch:
            self.width = max(1.0, min(self.width / 2, bound))
            self.epoch += 1
            self.cuts += 1

    def grow(self) -> None:
        if self.width < self.ceiling:
            self.width = min(float(self.ceiling), self.width + 1 / self.width)
            self._wake()


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

    The concurrency `Window` adapts to overload. Three signals of the provider, all
    honoured: a shared cool-down after a 429 (Retry-After), the provider's `remaining` budget (requests
    started since that response are subtracted, so the pool slows down *before* a 429, not after), and,
    once the provider has named its per-minute limit, our own record of what we sent in the last minute,
    so that the pool resumes the moment the window frees a slot. A wait the provider asks for is told to
    `on_wait` once (from 1 s on); one longer than `max_wait` raises `ProviderError`.

    With a `deadline`, a cut goes no wider than the answers delivered in the last deadline (once the run
    is that old): a server that delivers N answers a deadline keeps N requests in flight for a whole
    deadline each (Little's law), so more than N in flight wait past it. A one-slot server whose first
    round all timed out (no answer in a deadline) goes to one at once instead of halving round by round,
    one timed-out round each; a cloud provider, with hundreds of answers a deadline, is only halved.
    """

    def __init__(
        self,
        concurrency: int,
        rpm: int | None = None,
        *,
        deadline: float | None = None,
        max_wait: float = MAX_WAIT,
        on_wait: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.window = Window(concurrency)
        self._deadline = deadline
        self._began: float | None = None
        self._answered: deque[float] = deque()  # when answers in time came, over the last deadline
        self.max_wait = max_wait
        self._on_wait = on_wait
        self._announced = 0.0
        self._spacing = 60.0 / rpm if rpm else 0.0
        self._next_start = 0.0
        self._clock = clock
        self._sleep = sleep
        self._resume_at = 0.0
        self._resume_why = ""
        self._remaining: int | None = None
        self._reset_at = 0.0
        self._reset_why = ""
        self._started_since_header = 0
        self._limit: int | None = None
        self._sent: deque[float] = deque()
        # The token window, kept the same way: the budget left, and once named, our record of the minute.
        self._token_limit: int | None = None
        self._tokens_left: int | None = None
        self._tokens_reset_at = 0.0
        self._tokens_reset_why = ""
        self._tokens_since_header = 0
        self._tokens_sent: deque[tuple[float, int]] = deque()
        self.in_flight = 0
        self.cooldowns = 0

    def pause(self, seconds: float, why: str = "Retry-After") -> None:
        """One worker saw Retry-After (`why` names the header and its value): hold every worker until then.
        The retry policy calls it with a wait it has already held to `max_wait`: one place decides."""
        until = self._clock() + seconds
        if until > self._resume_at:
            self._resume_at, self._resume_why = until, why
            self.cooldowns += 1
            self._announce(seconds, until, why)

    def _announce(self, seconds: float, until: float, why: str) -> None:
        """Say once what the run waits for, when it is long enough to be noticed."""
        if seconds >= ANNOUNCE and until > self._announced + ANNOUNCE and self._on_wait is not None:
            self._announced = until
            self._on_wait(f"waiting {human(seconds)}, as the provider asks ({why})")

    def observe(self, headers: Mapping[str, str]) -> None:
        """Learn the provider's request and token limits and what is left of them from a response."""
        limit, left, reset_at, why = self._budget(headers, "requests")
        self._limit = limit or self._limit
        if left is not None:
            self._remaining, self._reset_at, self._started_since_header = left, reset_at, 0
            self._reset_why = why
        limit, left, reset_at, why = self._budget(headers, "tokens")
        self._token_limit = limit or self._token_limit
        if left is not None:
            self._tokens_left, self._tokens_reset_at, self._tokens_since_header = left, reset_at, 0
            self._tokens_reset_why = why

    def _budget(self, headers: Mapping[str, str], kind: str) -> tuple[int | None, int | None, float, str]:
        """`x-ratelimit-{limit,remaining,reset}-KIND`: the per-minute limit, what is left, when it resets,
        and the headers that say so (for the announcement of a wait)."""
        limit = _integer(headers.get(f"x-ratelimit-limit-{kind}"))
        left = _integer(headers.get(f"x-ratelimit-remaining-{kind}"))
        reset = headers.get(f"x-ratelimit-reset-{kind}")
        seconds = parse_duration(reset) if reset else None
        why = f"x-ratelimit-remaining-{kind}: {left}"
        if reset:
            why += f", x-ratelimit-reset-{kind}: {reset.strip()}"
        return (limit if limit is not None and limit > 0 else None, left,
                self._clock() + (seconds if seconds is not None else 1.0), why)

    def _token_delay(self, now: float, tokens: int) -> list[tuple[float, str | None]]:
        """Waits until `tokens` more fit the provider's token budget and per-minute token window."""
        delays: list[tuple[float, str | None]] = []
        if self._tokens_left is not None and self._tokens_left - self._tokens_since_header < tokens:
            delays.append((self._tokens_reset_at - now, self._tokens_reset_why))
        if self._token_limit is not None:
            while self._tokens_sent and self._tokens_sent[0][0] <= now - WINDOW:
                self._tokens_sent.popleft()
            spent = sum(n for _, n in self._tokens_sent)
            for sent_at, n in self._tokens_sent:  # the oldest sends leave the window first
                if spent + tokens <= self._token_limit:
                    break
                spent -= n
                delays.append((sent_at + WINDOW + MARGIN - now, f"x-ratelimit-limit-tokens: {self._token_limit}"))
        return delays

    def _delay(self, now: float, tokens: int = 0) -> tuple[float, str | None]:
        """Seconds until every pacing rule lets one more request go (0: go now), and the provider's header
        that asks for the wait (None: the wait is our own `--rpm`)."""
        delays = [(self._resume_at - now, self._resume_why), (self._next_start - now, None),
                  *self._token_delay(now, tokens)]
        if self._remaining is not None and self._remaining - self._started_since_header <= 0:
            delays.append((self._reset_at - now, self._reset_why))  # past the reset, the budget no longer binds
        if self._limit is not None:
            while self._sent and self._sent[0] <= now - WINDOW:
                self._sent.popleft()
            if len(self._sent) >= self._limit:
                delays.append((self._sent[-self._limit] + WINDOW + MARGIN - now,
                               f"x-ratelimit-limit-requests: {self._limit}"))
        return max(delays, key=lambda delay: delay[0])

    async def _wait_for_budget(self, tokens: int) -> None:
        while True:
            now = self._clock()
            delay, why = self._delay(now, tokens)
            if delay <= 0:
                return
            if why is not None:
                if delay > self.max_wait:
                    raise too_long(delay, why, self.max_wait)
                self._announce(delay, now + delay, why)
            await self._sleep(delay)

    def _throughput(self) -> float:
        """Answers delivered in the last deadline, once the run has been going that long (else no bound)."""
        now = self._clock()
        while self._answered and (self._deadline is None or self._answered[0] <= now - self._deadline):
            self._answered.popleft()
        if self._deadline is None or self._began is None or now - self._began < self._deadline:
            return math.inf
        return float(len(self._answered))

    @asynccontextmanager
    async def slot(self, tokens: int = 0,
                   judge: Callable[[BaseException], str | None] | None = None) -> AsyncIterator[None]:
        """Hold a place in the window for one request of about `tokens` tokens, after every pacing rule
        agrees. An answer in time widens the window; one that came late (more than `QUEUED` of the
        deadline), or a failure `judge` calls a sign of overload (a timeout, a 503), narrows it."""
        await self.window.acquire()
        try:
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
            epoch = self.window.epoch
            if self._began is None:
                self._began = now
            self.in_flight += 1
            try:
                yield
            except BaseException as exc:
                if judge is not None and judge(exc) is not None:
                    self.window.cut(epoch, self._throughput())
                raise
            finally:
                self.in_flight -= 1
            done = self._clock()
            self._answered.append(done)
            bound = self._throughput()  # also keeps the record to the last deadline
            if self._deadline is not None and done - now > QUEUED * self._deadline:
                self.window.cut(epoch, bound)
            else:
                self.window.grow()
        finally:
            self.window.release()
