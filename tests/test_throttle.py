"""Pacing: the concurrency cap, the shared cool-down after a 429, the provider's request budget and rpm.

Timing assertions are lower bounds (a slot never opens *early*) with generous slack; order is checked
instead of tight durations wherever possible.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from resummarize.provider.throttle import Throttle, parse_duration


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


async def test_concurrency_cap_is_never_exceeded() -> None:
    throttle = Throttle(3)
    in_flight = 0
    peak = 0

    async def request() -> None:
        nonlocal in_flight, peak
        async with throttle.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            assert throttle.in_flight == in_flight
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(request() for _ in range(12)))
    assert peak == 3
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
    throttle = Throttle(4)
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.monotonic())

    paused_at = time.monotonic()
    throttle.pause(0.2)
    throttle.pause(0.05)  # a shorter pause seen later does not cut the first one short
    assert throttle.cooldowns == 1
    await asyncio.gather(*(request() for _ in range(4)))
    assert len(started) == 4
    assert min(started) >= paused_at + 0.2
    assert max(started) - paused_at < 5.0


async def test_pause_extends_while_workers_wait() -> None:
    throttle = Throttle(2)
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.monotonic())

    begin = time.monotonic()
    throttle.pause(0.05)
    waiting = asyncio.gather(request(), request())
    await asyncio.sleep(0.01)
    throttle.pause(0.2)  # another worker's 429 while the first cool-down runs
    await waiting
    assert throttle.cooldowns == 2
    assert min(started) >= begin + 0.2


async def test_no_budget_left_makes_the_next_slot_wait_for_reset() -> None:
    throttle = Throttle(4)
    order: list[str] = []
    throttle.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "200ms"})
    observed = time.monotonic()

    async def request() -> None:
        async with throttle.slot():
            order.append("request")

    async def timer() -> None:
        await asyncio.sleep(0.1)
        order.append("100ms")

    await asyncio.gather(request(), timer())
    assert order == ["100ms", "request"]
    assert time.monotonic() >= observed + 0.2


async def test_remaining_budget_lets_that_many_through_then_waits() -> None:
    throttle = Throttle(8)
    throttle.observe({"x-ratelimit-remaining-requests": "2", "x-ratelimit-reset-requests": "200ms"})
    observed = time.monotonic()
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.monotonic() - observed)

    await asyncio.gather(*(request() for _ in range(3)))
    _, second, third = sorted(started)
    assert second < 0.15  # the budget covered these two
    assert third >= 0.2  # the third waited for the reset


async def test_headers_without_a_budget_change_nothing() -> None:
    throttle = Throttle(2)
    throttle.observe({"content-type": "application/json"})
    throttle.observe({"x-ratelimit-remaining-requests": "lots", "x-ratelimit-reset-requests": "1s"})
    async with asyncio.timeout(0.5):
        async with throttle.slot():
            pass
        async with throttle.slot():
            pass


async def test_rpm_spaces_request_starts_evenly() -> None:
    throttle = Throttle(8, rpm=600)  # one request every 0.1 s, no burst at the start
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.monotonic())

    await asyncio.gather(*(request() for _ in range(4)))
    started.sort()
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert all(gap >= 0.07 for gap in gaps), gaps
    assert started[-1] - started[0] >= 0.25
    assert started[-1] - started[0] < 5.0


async def test_without_rpm_requests_start_together() -> None:
    throttle = Throttle(4)
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.monotonic())
            await asyncio.sleep(0.05)

    await asyncio.gather(*(request() for _ in range(4)))
    assert max(started) - min(started) < 0.05
