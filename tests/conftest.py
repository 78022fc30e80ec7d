"""Shared fixtures: where the real-world sample data lives."""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than the machine has cores. About a third of the suite's time is spent
    waiting (on fake providers' latencies, deadlines, subprocesses starting): the extra worker runs in
    those gaps. On two cores, 3 workers finish in ~67 s where 2 took ~84 s and 4 took ~71 s."""
    return (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1) + 1


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """Real upstream JSONL files (Chinese digests), kept byte-for-byte as published."""
    return REPO / "tests" / "corpus"


@pytest.fixture
def data(corpus_dir: Path, tmp_path: Path) -> Path:
    """A copy of upstream's burst day (48 failed entries) in a `data/` folder beside its raw crawl (60 of
    whose papers it lacks): the enhanced file's path."""
    name = "2026-05-21_AI_enhanced_Chinese.jsonl"
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copyfile(corpus_dir / name, folder / name)
    shutil.copyfile(corpus_dir / "2026-05-21.jsonl", folder / "2026-05-21.jsonl")
    return folder / name


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


#: Linux capabilities that let root ignore file permissions: read/write anything, list anything, and
#: act as the owner of any file.
_PERMISSION_CAPABILITIES = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


@contextmanager
def _without_permission_capabilities() -> Iterator[None]:
    """Root, still root (the package and a private clone stay readable: a checkout in a `mktemp -d` folder
    is mode 0700), but with the capabilities that bypass permission checks out of the effective set of
    this thread (and the threads it starts meanwhile), then put back from the permitted set."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    saved = data[0].effective
    for bit in _PERMISSION_CAPABILITIES:
        data[0].effective &= ~(1 << bit)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)


@pytest.fixture
def unprivileged() -> Callable[[], AbstractContextManager[None]]:
    """Run a block where file permissions apply: tests often run as root (in containers), and root may
    write anywhere. As root the block runs without the capabilities that bypass permission checks (not as
    another user, who could not read a checkout in a private folder); otherwise as it is."""

    @contextmanager
    def drop() -> Iterator[None]:
        if os.geteuid() != 0:
            yield
            return
        with _without_permission_capabilities():
            yield

    return drop
