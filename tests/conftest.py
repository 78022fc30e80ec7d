"""Shared fixtures: where the real-world sample data lives."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Real upstream JSONL files (Chinese digests), kept byte-for-byte as published."""
    return REPO / "tests" / "corpus"


@pytest.fixture(scope="session")
def seed_path() -> Path:
    """The English markdown seed digest: 72 placeholder entries, 24 Chinese, 3 good."""
    return REPO / "seeds" / "2026-01-28-cs.LG.md"


@pytest.fixture(scope="session")
def seed_subset(seed_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """A digest of the seed's first `n` entries, cut at an entry boundary: the same papers, the same
    requests (so the seed cassette answers them), a fraction of the run time."""
    text = seed_path.read_text(encoding="utf-8")
    starts = [m.start() for m in re.finditer(r"(?m)^### \[", text)]

    def make(n: int) -> Path:
        path = tmp_path_factory.mktemp("seed-subset") / f"first-{n}.md"
        path.write_text(text[: starts[n]] if n < len(starts) else text, encoding="utf-8")
        return path

    return make
