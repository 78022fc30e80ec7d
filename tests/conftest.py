"""Shared fixtures: where the real-world sample data lives."""

from __future__ import annotations

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
