"""Test helpers for projects that use resummarize: a fake OpenAI-compatible provider, as pytest fixtures.

Registered as a pytest plugin (entry point `pytest11`), so any project that installs resummarize gets
`fake_openai` (a running `FakeProvider` with default settings) and `fake_openai_factory` (build your own:
`fake_openai_factory(rpm=30, faults=FaultPlan.sequence(["http_500"]))`); both stop after the test.
Loading the plugin stays cheap: the server module is imported on first use, and pytest is optional.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resummarize.testing.batches import BatchSettings
    from resummarize.testing.server import FakeProvider, Fault, FaultPlan

__all__ = ["BatchSettings", "FakeProvider", "Fault", "FaultPlan", "fake_openai", "fake_openai_factory", "replay"]


def replay(cassette: str | Path) -> AbstractContextManager[Path]:
    """Answer every OpenAI request inside the block from a recorded cassette (`--record` writes one).

    A request the cassette does not hold raises instead of reaching the network.
    """
    from resummarize.cassette import cassette as use

    return use(Path(cassette), "replay")


def __getattr__(name: str) -> Any:
    """Re-export the fake's public names lazily, so that pytest start-up does not pay for them."""
    if name in {"FakeProvider", "Fault", "FaultPlan"}:
        from resummarize.testing import server

        return getattr(server, name)
    if name == "BatchSettings":
        from resummarize.testing import batches

        return batches.BatchSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _providers() -> Generator[Callable[..., FakeProvider], None, None]:
    """Yield a factory of started providers; stop them all afterwards."""
    from resummarize.testing.server import FakeProvider

    started: list[FakeProvider] = []

    def make(**settings: Any) -> FakeProvider:
        provider = FakeProvider(**settings).start()
        started.append(provider)
        return provider

    try:
        yield make
    finally:
        for provider in reversed(started):
            provider.stop()


try:
    import pytest
except ImportError:  # pragma: no cover - resummarize itself does not need pytest
    pass
else:

    @pytest.fixture
    def fake_openai_factory() -> Iterator[Callable[..., FakeProvider]]:
        """Build `FakeProvider(**settings)` instances, started now and stopped after the test."""
        yield from _providers()

    @pytest.fixture
    def fake_openai(fake_openai_factory: Callable[..., FakeProvider]) -> FakeProvider:
        """A running `FakeProvider()`: model `gpt-4o-mini`, key `sk-test`, no faults, no limits."""
        return fake_openai_factory()
