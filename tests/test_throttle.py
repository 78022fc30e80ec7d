"""Pacing: the concurrency cap, the shared cool-down after a 429, the provider's request budget and rpm.

Every timing test runs on virtual time: the throttle's clock and sleep are injected, time moves only
when every task waits, so start times are exact and no assertion depends on the machine's load.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import Any

import pytest

from resummarize.provider.throttle import MARGIN, Throttle, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("350ms", 0.35),
        ("1.5", 1.5),
        ("1h2m3s", 3723.0),
        ("0.5s", 0.5),
        ("2m30.5s", 150.5),
        (" 20ms ", 0.02),
        ("0", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["bogus", "", "1x", "1s bogus", "s", "1 s", "-1", "inf", "nan", "-2s"])
def test_parse_duration_refuses_what_is_no_duration(text: str) -> None:
    assert parse_duration(text) is None


class VirtualTime:
    """A clock and a sleep for the code under test; `run` advances the clock to the next wake-up only
    once every task is blocked, like an event loop with nothing else to do."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), wake))
        await wake

    def throttle(self, concurrency: int, rpm: int | None = None) -> Throttle:
        return Throttle(concurrency, rpm, clock=self.clock, sleep=self.sleep)

    async def run(self, *work: Awaitable[Any]) -> list[Any]:
        tasks = [asyncio.ensure_future(w) for w in work]
        while True:
            for _ in range(50):  # let every runnable task go on until it blocks
                await asyncio.sleep(0)
            if all(task.done() for task in tasks):
                return [task.result() for task in tasks]
            assert self._sleepers, "deadlock: tasks wait for something other than time"
            wake_at, _, wake = heapq.heappop(self._sleepers)
            self.now = max(self.now, wake_at)
            wake.set_result(None)


async def test_concurrency_cap_is_never_exceeded() -> None:
    time = VirtualTime()
    throttle = time.throttle(3)
    in_flight = 0
    peak = 0

    async def request() -> None:
        nonlocal in_flight, peak
        async with throttle.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            assert throttle.in_flight == in_flight
            await time.sleep(1.0)
            in_flight -= 1

    await time.run(*(request() for _ in range(12)))
    assert peak == 3
    assert time.now == 4.0  # 12 one-second requests, three at a time
    assert throttle.in_flight == 0


async def test_a_failing_request_gives_its_slot_back() -> None:
    throttle = Throttle(1)
    with pytest.raises(RuntimeError):
        async with throttle.slot():
            raise RuntimeError("provider exploded")
    assert throttle.in_flight == 0
    async with asyncio.timeout(1.0):
        async with throttle.slot():
            assert throttle.in_flight == 1


async def test_pause_holds_every_worker_until_the_shared_resume_time() -> None:
    time = VirtualTime()
    throttle = time.throttle(4)
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.now)

    throttle.pause(0.2)
    throttle.pause(0.05)  # a shorter pause seen later does not cut the first one short
    assert throttle.cooldowns == 1
    await time.run(*(request() for _ in range(4)))
    assert started == [0.2] * 4


async def test_pause_extends_while_workers_wait() -> None:
    time = VirtualTime()
    throttle = time.throttle(2)
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.now)

    async def another_429() -> None:
        await time.sleep(0.01)
        throttle.pause(0.2)  # another worker's 429 while the first cool-down runs

    throttle.pause(0.05)
    await time.run(request(), request(), another_429())
    assert throttle.cooldowns == 2
    assert started == [pytest.approx(0.21)] * 2


async def test_no_budget_left_makes_the_next_slot_wait_for_reset() -> None:
    time = VirtualTime()
    throttle = time.throttle(4)
    order: list[str] = []
    throttle.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "200ms"})

    async def request() -> None:
        async with throttle.slot():
            order.append(f"request at {time.now}")

    async def timer() -> None:
        await time.sleep(0.1)
        order.append("100ms")

    await time.run(request(), timer())
    assert order == ["100ms", "request at 0.2"]


async def test_remaining_budget_lets_that_many_through_then_waits() -> None:
    time = VirtualTime()
    throttle = time.throttle(8)
    throttle.observe({"x-ratelimit-remaining-requests": "2", "x-ratelimit-reset-requests": "200ms"})
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.now)

    await time.run(*(request() for _ in range(3)))
    assert sorted(started) == [0.0, 0.0, 0.2]  # the budget covered two; the third waited for the reset


async def test_headers_without_a_budget_change_nothing() -> None:
    time = VirtualTime()
    throttle = time.throttle(2)
    throttle.observe({"content-type": "application/json"})
    throttle.observe({"x-ratelimit-remaining-requests": "lots", "x-ratelimit-reset-requests": "1s"})
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.now)

    await time.run(request(), request())
    assert started == [0.0, 0.0]


async def test_rpm_spaces_request_starts_evenly() -> None:
    time = VirtualTime()
    throttle = time.throttle(8, rpm=600)  # one request every 0.1 s, no burst at the start
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.now)

    await time.run(*(request() for _ in range(4)))
    assert started == pytest.approx([0.0, 0.1, 0.2, 0.3])


async def test_without_rpm_requests_start_together() -> None:
    time = VirtualTime()
    throttle = time.throttle(4)
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.now)
            await time.sleep(0.05)

    await time.run(*(request() for _ in range(4)))
    assert started == [0.0] * 4


async def test_the_learnt_limit_holds_the_sixty_second_window() -> None:
    """Once the provider names its per-minute limit, the (limit+1)th request waits for the oldest send
    to leave the window, plus the margin."""
    time = VirtualTime()
    throttle = time.throttle(8)
    throttle.observe({"x-ratelimit-limit-requests": "3"})
    started: list[float] = []

    async def request(delay: float) -> None:
        await time.sleep(delay)
        async with throttle.slot():
            started.append(time.now)

    await time.run(request(0.0), request(1.0), request(2.0), request(2.5), request(3.0))
    assert started == pytest.approx([0.0, 1.0, 2.0, 60.0 + MARGIN, 61.0 + MARGIN])


class WindowProvider:
    """A provider with a sliding 60 s request window that announces it the way the fake and OpenAI do:
    `x-ratelimit-limit/remaining/reset-requests` on every answer, a 429 with Retry-After beyond it."""

    def __init__(self, time: VirtualTime, limit: int, latency: float, transit: float) -> None:
        self.time, self.limit, self.latency, self.transit = time, limit, latency, transit
        self.window: list[float] = []
        self.refused = 0
        self.served = 0

    def _headers(self) -> dict[str, str]:
        now = self.time.now
        self.window = [t for t in self.window if t > now - 60]
        reset = self.window[0] + 60 - now if self.window else 0.0
        return {"x-ratelimit-limit-requests": str(self.limit),
                "x-ratelimit-remaining-requests": str(self.limit - len(self.window)),
                "x-ratelimit-reset-requests": f"{reset:.3f}s"}

    async def request(self, throttle: Throttle) -> None:
        while True:
            async with throttle.slot():
                await self.time.sleep(self.transit)  # the way to the provider: it counts on arrival
                headers = self._headers()
                if len(self.window) >= self.limit:
                    self.refused += 1
                    retry = self.window[0] + 60 - self.time.now
                    await self.time.sleep(self.transit)
                    throttle.observe(headers)
                    throttle.pause(retry)
                    continue
                self.window.append(self.time.now)
                headers = self._headers()
                await self.time.sleep(self.latency)
                self.served += 1
            throttle.observe(headers)
            return


@pytest.mark.parametrize("transit", [0.0, 0.05, 0.3])
async def test_a_sliding_window_is_kept_under_not_at(transit: float) -> None:
    """192 requests against 120 a minute: at most 3 % answered 429, within 1.15 x the fastest schedule
    the window allows (120 at once, the rest as the first ones leave the window)."""
    time = VirtualTime()
    throttle = time.throttle(8)
    provider = WindowProvider(time, limit=120, latency=0.2, transit=transit)
    await time.run(*(provider.request(throttle) for _ in range(192)))
    fastest = 60.0 + provider.latency + 2 * transit
    assert provider.served == 192
    assert provider.refused <= 0.03 * 192
    assert time.now <= 1.15 * fastest


async def test_the_token_window_is_honoured_like_the_request_window() -> None:
    """A token budget: once `x-ratelimit-remaining-tokens` is spent, the next request waits for its reset;
    with the per-minute token limit named, our own record of tokens sent keeps the window."""
    time = VirtualTime()
    throttle = time.throttle(8)
    throttle.observe({"x-ratelimit-limit-tokens": "1000", "x-ratelimit-remaining-tokens": "1000",
                      "x-ratelimit-reset-tokens": "60s"})
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot(tokens=400):
            started.append(time.now)

    await time.run(*(request() for _ in range(3)))
    assert started == pytest.approx([0.0, 0.0, 60.0 + MARGIN])  # 400 + 400 fit; 1200 would not
