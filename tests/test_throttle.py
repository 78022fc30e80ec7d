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

import httpx2
import openai
import pytest

from resummarize.errors import ProviderError
from resummarize.provider.retry import overload
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


# --- the adaptive window: fewer at once when the server shows overload, more when answers flow ----------


def http_error(status: int) -> openai.APIStatusError:
    """What the SDK raises for a bare `status` (no Retry-After, no budget headers)."""
    response = httpx2.Response(status, request=httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
    cls = openai.RateLimitError if status == 429 else openai.InternalServerError
    return cls("busy", response=response, body=None)


class OneSlotServer:
    """llama.cpp's server on virtual time: one request computed at a time, the others wait in line
    (first come, first served). A request whose client gave up before its turn is dropped; one whose
    client gives up while it is computed is computed to the end all the same (a zombie)."""

    def __init__(self, time: VirtualTime, service: float, deadline: float) -> None:
        self.time, self.service, self.deadline = time, service, deadline
        self.free_at = 0.0
        self.open = 0
        self.peak_open = 0
        self.delivered = 0
        self.timed_out = 0
        self.zombies = 0
        self.failed = 0

    async def request(self, throttle: Throttle, *, adaptive: bool = True) -> None:
        """One paper, asked up to 6 times (the policy's attempts; a timeout is retried at once). Not
        `adaptive`: the throttle as it was, where a timeout said nothing about how many to send."""
        for _ in range(6):
            try:
                async with throttle.slot(judge=overload if adaptive else None):
                    await self._exchange()
                return
            except openai.APITimeoutError:
                continue
        self.failed += 1

    async def _exchange(self) -> None:
        now = self.time.now
        start = max(now, self.free_at)
        if start <= now + self.deadline:  # reached while the client still waits: computed to the end
            self.free_at = start + self.service
        done = start + self.service
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        try:
            await self.time.sleep(min(done, now + self.deadline) - now)
        finally:
            self.open -= 1
        if done > now + self.deadline:
            self.timed_out += 1
            self.zombies += start <= now + self.deadline
            raise openai.APITimeoutError(request=httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
        self.delivered += 1


async def run_papers(time: VirtualTime, throttle: Throttle, papers: int, ask: Any, workers: int) -> None:
    """`workers` workers (the engine's pool) take `papers` papers off one queue."""
    left = list(range(papers))

    async def worker() -> None:
        while left:
            left.pop()
            await ask(throttle)

    await time.run(*(worker() for _ in range(workers)))


@pytest.mark.parametrize("adaptive", [False, True])
async def test_a_one_slot_server_is_not_queued_to_death(adaptive: bool) -> None:
    """The issue's case: 8 in flight, 60 s per request, answers that take 17 s one at a time. A fixed
    window of 8 keeps ~8 requests in line: most time out, and the server computes answers nobody gets.
    The adaptive window falls after the first late answers, then delivers nearly every request."""
    time = VirtualTime()
    throttle = Throttle(8, deadline=60.0 if adaptive else None, clock=time.clock, sleep=time.sleep)
    server = OneSlotServer(time, service=17.0, deadline=60.0)

    async def ask(throttle: Throttle) -> None:
        await server.request(throttle, adaptive=adaptive)

    await run_papers(time, throttle, 36, ask, workers=8)
    if adaptive:
        assert (server.delivered, server.failed) == (36, 0)
        assert server.timed_out <= 10 and server.zombies <= 5  # mostly the first rounds: 8 sent at once
        assert throttle.window.size <= 2
        assert time.now <= 1.2 * 36 * 17.0  # the server is kept busy: near its own pace
    else:
        assert server.delivered < 36 / 2
        assert server.timed_out > 5 * 36
        assert server.zombies > 36  # answers computed that nobody received


@pytest.mark.parametrize("service", [1.0, 5.0])
async def test_a_one_slot_server_that_keeps_up_is_left_alone(service: float) -> None:
    """Answers quick enough that 8 in line never come near the deadline: nothing to adapt."""
    time = VirtualTime()
    throttle = Throttle(8, deadline=60.0, clock=time.clock, sleep=time.sleep)
    server = OneSlotServer(time, service=service, deadline=60.0)
    await run_papers(time, throttle, 36, server.request, workers=8)
    assert (server.delivered, server.timed_out) == (36, 0)
    assert server.peak_open == 8
    assert time.now == 36 * service


async def test_the_window_stays_full_for_a_provider_that_keeps_up() -> None:
    """A cloud provider: every answer in 2 s however many are in flight. No cut, 16 at once all along,
    the run in the provider-bound time."""
    time = VirtualTime()
    throttle = Throttle(16, deadline=60.0, clock=time.clock, sleep=time.sleep)
    peak = 0

    async def ask(throttle: Throttle) -> None:
        nonlocal peak
        async with throttle.slot(judge=overload):
            peak = max(peak, throttle.in_flight)
            await time.sleep(2.0)

    await run_papers(time, throttle, 192, ask, workers=16)
    assert throttle.window.cuts == 0
    assert peak == 16
    assert time.now == 192 * 2.0 / 16


@pytest.mark.parametrize("status", [503, 429])
async def test_a_server_at_capacity_sees_fewer_refusals(status: int) -> None:
    """A server that takes 2 at once and refuses more with a bare 503 (or a 429 without Retry-After):
    the window comes down to what it takes, so refusals stop after the first rounds."""
    time = VirtualTime()
    throttle = Throttle(8, deadline=60.0, clock=time.clock, sleep=time.sleep)
    serving = 0
    refused: list[float] = []

    async def ask(throttle: Throttle) -> None:
        nonlocal serving
        while True:
            try:
                async with throttle.slot(judge=overload):
                    if serving >= 2:
                        await time.sleep(0.01)
                        refused.append(time.now)
                        raise http_error(status)
                    serving += 1
                    try:
                        await time.sleep(1.0)
                    finally:
                        serving -= 1
                return
            except openai.APIStatusError:
                await time.sleep(0.5)  # the policy's backoff

    await run_papers(time, throttle, 60, ask, workers=8)
    assert throttle.window.size <= 3
    late = [t for t in refused if t > 10.0]
    assert len(late) <= 0.2 * 50  # after the first rounds, at most one in five requests meets a refusal
    assert time.now <= 1.3 * 60 / 2


async def test_the_window_grows_back_when_answers_flow() -> None:
    time = VirtualTime()
    throttle = Throttle(8, deadline=60.0, clock=time.clock, sleep=time.sleep)
    throttle.window.cut(0)
    throttle.window.cut(1)
    assert throttle.window.size == 2

    async def ask(throttle: Throttle) -> None:
        async with throttle.slot(judge=overload):
            await time.sleep(1.0)

    await run_papers(time, throttle, 60, ask, workers=8)
    assert throttle.window.size == 8


def timed_out() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=httpx2.Request("POST", "http://127.0.0.1:9/v1"))


async def test_one_cut_per_round() -> None:
    """Answers flow, then eight requests of one round all time out: the window halves once, not down to
    one (the server delivered more than four answers in the last deadline)."""
    time = VirtualTime()
    throttle = Throttle(8, deadline=1.0, clock=time.clock, sleep=time.sleep)

    async def request(fails: bool) -> None:
        async with throttle.slot(judge=overload):
            await time.sleep(1.0 if fails else 0.2)
            if fails:
                raise timed_out()

    await time.run(*(request(False) for _ in range(8)))
    results = await time.run(*(_failing(request(True)) for _ in range(8)))
    assert results == [True] * 8
    assert throttle.window.size == 4
    assert throttle.window.cuts == 1


async def _failing(work: Awaitable[None]) -> bool:
    with pytest.raises(openai.APITimeoutError):
        await work
    return True


async def test_a_round_with_no_answer_in_a_deadline_cuts_to_one() -> None:
    """A first round that all timed out, no answer delivered in a whole deadline (a one-slot server
    that took the others in line): straight to one in flight, not one timed-out round per halving."""
    time = VirtualTime()
    throttle = Throttle(8, deadline=60.0, clock=time.clock, sleep=time.sleep)

    async def lost() -> None:
        async with throttle.slot(judge=overload):
            await time.sleep(60.0)
            raise timed_out()

    assert await time.run(*(_failing(lost()) for _ in range(8))) == [True] * 8
    assert throttle.window.size == 1


async def test_an_early_sign_of_overload_only_halves() -> None:
    """A 503 in the first seconds, before a deadline has passed: no throughput known yet, only halving."""
    time = VirtualTime()
    throttle = Throttle(16, deadline=60.0, clock=time.clock, sleep=time.sleep)

    async def refused() -> None:
        with pytest.raises(openai.InternalServerError):
            async with throttle.slot(judge=overload):
                await time.sleep(0.5)
                raise http_error(503)

    await time.run(refused())
    assert throttle.window.size == 8


async def test_other_failures_leave_the_window_alone() -> None:
    throttle = Throttle(8, deadline=60.0)
    for error in (http_error(500), ValueError("a bad answer")):
        with pytest.raises(type(error)):
            async with throttle.slot(judge=overload):
                raise error
    assert throttle.window.size == 8


# --- every wait the provider asks for: announced, capped ----------------------------------------------


async def test_a_spent_budget_is_waited_for_and_announced_once() -> None:
    time = VirtualTime()
    told: list[str] = []
    throttle = Throttle(4, clock=time.clock, sleep=time.sleep, on_wait=told.append)
    throttle.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"})
    started: list[float] = []

    async def request() -> None:
        async with throttle.slot():
            started.append(time.now)

    await time.run(*(request() for _ in range(4)))
    assert started == [30.0] * 4
    assert told == ["waiting 30 s, as the provider asks "
                    "(x-ratelimit-remaining-requests: 0, x-ratelimit-reset-requests: 30s)"]


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "99999h"},
         "x-ratelimit-reset-requests: 99999h"),
        ({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2h"}, "x-ratelimit-reset-tokens: 2h"),
    ],
)
async def test_a_reset_beyond_the_cap_stops_at_once_naming_the_header(
    headers: dict[str, str], named: str
) -> None:
    """`x-ratelimit-reset-requests: 99999h` used to hold the run silently forever."""
    time = VirtualTime()
    told: list[str] = []
    throttle = Throttle(4, clock=time.clock, sleep=time.sleep, on_wait=told.append)
    throttle.observe(headers)
    with pytest.raises(ProviderError) as info:
        await time.run(_one_request(throttle))
    assert named in str(info.value) and "--max-wait" in str(info.value)
    assert info.value.exit_code == 3
    assert time.now == 0.0
    assert told == []
    assert throttle.window.held == 0  # its place in the window was given back


async def _one_request(throttle: Throttle) -> None:
    async with throttle.slot(tokens=10):
        pass


async def test_a_retry_after_pause_is_announced_once() -> None:
    """(The cap on the wait is the retry policy's: `test_retry.py::test_the_cap_is_the_callers`.)"""
    time = VirtualTime()
    told: list[str] = []
    throttle = Throttle(4, max_wait=60.0, clock=time.clock, sleep=time.sleep, on_wait=told.append)
    throttle.pause(0.4, "retry-after-ms: 400")  # the ordinary rhythm of a rate limit: not announced
    throttle.pause(20.0, "retry-after: 20")
    throttle.pause(20.0, "retry-after: 20")  # another worker's 429 asking for the same: said once
    assert told == ["waiting 20 s, as the provider asks (retry-after: 20)"]
    await time.run(_one_request(throttle))
    assert time.now == 20.0


async def test_our_own_rpm_spacing_is_not_announced() -> None:
    time = VirtualTime()
    told: list[str] = []
    throttle = Throttle(4, rpm=20, clock=time.clock, sleep=time.sleep, on_wait=told.append)
    await time.run(*(_one_request(throttle) for _ in range(3)))
    assert time.now == 6.0
    assert told == []


async def test_a_waiter_cancelled_in_the_window_loses_no_place() -> None:
    """A worker cancelled while it waits for a place (a fatal stop elsewhere) leaves the window whole."""
    throttle = Throttle(1)
    holding = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with throttle.slot():
            holding.set()
            await release.wait()

    first = asyncio.ensure_future(holder())
    await holding.wait()
    waiter = asyncio.ensure_future(_one_request(throttle))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    await first
    async with asyncio.timeout(1.0):
        await _one_request(throttle)
    assert throttle.window.held == 0
