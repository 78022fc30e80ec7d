"""The fake provider's limits: how many chat requests at once, how many a minute, and what a server at
capacity does with one more."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from resummarize.errors import UsageError
from resummarize.testing.answers import duration, retry_headers

#: What a provider does with a request beyond `max_concurrency` (`when_busy`): a 429 with Retry-After (as
#: OpenAI), a bare 429 or 503 (a server at capacity that says no more), or a queue (llama.cpp's server
#: answers one request at a time and lets the others wait in line, computing each one it reaches).
BUSY = frozenset({"retry-after", "429", "503", "queue"})


class Limits:
    """Concurrency and a sliding 60 s request window, thread-safe, with the peaks seen."""

    def __init__(self, max_concurrency: int | None, when_busy: str, rpm: int | None, latency: float,
                 clock: Callable[[], float]) -> None:
        if when_busy not in BUSY:
            raise UsageError(f"when_busy must be one of {sorted(BUSY)}, not {when_busy!r}")
        self.max_concurrency, self.when_busy, self.rpm, self.latency = max_concurrency, when_busy, rpm, latency
        self.clock = clock
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)  # a slot freed, for requests waiting in line
        self._window: deque[float] = deque()
        self.in_flight = 0
        self.peak = 0
        self._open = 0  # chat requests received and not yet answered: in line or in service
        self.peak_open = 0

    @contextmanager
    def opened(self) -> Iterator[None]:
        """A chat request from its arrival to its answer."""
        with self._lock:
            self._open += 1
            self.peak_open = max(self.peak_open, self._open)
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1

    def reset_peaks(self) -> None:
        with self._lock:
            self.peak, self.peak_open = self.in_flight, self._open

    def admit(self, stopping: threading.Event | None) -> tuple[bool, dict[str, str]]:
        """Take a concurrency slot and an rpm slot (in line for one, `when_busy="queue"`), or give the
        headers of a refusal: when to retry, unless the server does not say."""
        with self._lock:
            while (self.when_busy == "queue" and self.max_concurrency is not None and stopping is not None
                   and self.in_flight >= self.max_concurrency and not stopping.is_set()):
                self._room.wait(0.05)
            now = self.clock()
            while self._window and self._window[0] <= now - 60:
                self._window.popleft()
            if self.max_concurrency is not None and self.in_flight >= self.max_concurrency:
                says_when = self.when_busy == "retry-after"
                return False, retry_headers(max(self.latency, 0.1)) if says_when else {}
            if self.rpm is not None and len(self._window) >= self.rpm:
                return False, {**retry_headers(self._window[0] + 60 - now), **self._quota(now)}
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if self.rpm is not None:
                self._window.append(now)
            return True, self._quota(now)

    def release(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self._room.notify()

    def _quota(self, now: float) -> dict[str, str]:
        if self.rpm is None:
            return {}
        reset = self._window[0] + 60 - now if self._window else 0.0
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-remaining-requests": str(max(0, self.rpm - len(self._window))),
            "x-ratelimit-reset-requests": duration(reset),
        }
