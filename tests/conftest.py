"""Shared fixtures: where the real-world sample data lives."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A scratch folder an unprivileged user can use too (pytest's own is private to the user running it)."""
    folder = Path(tempfile.mkdtemp(prefix="resummarize-test-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o777)
        shutil.rmtree(folder)


@pytest.fixture
def unprivileged() -> Callable[[], AbstractContextManager[None]]:
    """Run a block where file permissions apply: tests often run as root (in containers), and root may
    write anywhere. As root the block runs with the effective ids of `nobody`; otherwise as it is."""

    # Imported lazily (by asyncio, by zipfile for numpy's model files); the stdlib may be private to root.
    import concurrent.futures.thread  # noqa: F401
    import encodings.cp437  # noqa: F401

    @contextmanager
    def drop() -> Iterator[None]:
        if os.geteuid() != 0:
            yield
            return
        os.setegid(65534)
        os.seteuid(65534)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)

    return drop
