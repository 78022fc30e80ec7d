"""Waiting for a condition that must become true: the limit only bounds a broken run, never a timing."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def becomes(condition: Callable[[], bool], within: float) -> bool:
    """Whether `condition` turns true within `within` seconds: for what a correct run must NOT do, the
    limit is the time it is given to do it anyway."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
