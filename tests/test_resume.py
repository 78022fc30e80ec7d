"""A run killed with SIGKILL and started again never asks again for an answer it already received."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resummarize.cli import main
from resummarize.config import Settings
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider


def _stored(journal: Path) -> set[str]:
    if not journal.exists():
        return set()
    try:
        with sqlite3.connect(journal, timeout=5.0) as db:
            return {row[0] for row in db.execute("SELECT paper_id FROM answers")}
    except sqlite3.OperationalError:  # the table is not created yet
        return set()


@pytest.mark.slow
def test_kill_9_then_rerun_repeats_only_requests_in_flight(
        tmp_path: Path, seed_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    digest, journal = tmp_path / "seed.md", tmp_path / "journal.db"
    shutil.copyfile(seed_path, digest)
    arguments = ["repair", str(digest), "--language", "English", "--cache", str(journal), "--concurrency", "4"]
    command = [sys.executable, "-m", "resummarize", *arguments]  # the first run is killed: a process of its own
    with FakeProvider(latency=0.1) as fake:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Kill once the journal (not the fake's log, which runs ahead of it) holds 20 answers; the deadline
        # only bounds a broken run.
        deadline = time.monotonic() + 60
        while len(_stored(journal)) < 20 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert first.poll() is None, "the first run ended before it could be killed"
        first.send_signal(signal.SIGKILL)
        first.wait()
        answered_before = {r.paper_id for r in fake.requests if r.status == 200}
        stored = _stored(journal)
        assert digest.read_bytes() == seed_path.read_bytes()  # killed before writing: input intact
        # The killed client's requests still on the wire are finished (and logged) before the rerun's log
        # starts; one cut mid-body is logged without a paper.
        deadline = time.monotonic() + 10
        while fake.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        fake.reset_log()

        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        second = main(arguments)
        asked_again = {r.paper_id for r in fake.requests if r.paper_id is not None}

    assert second == 0, capsys.readouterr().err
    assert len(stored) >= 20
    assert not asked_again & stored  # nothing the engine had received is asked for again
    # Only answers that were on the wire at the kill may be repeated (at most one per worker).
    assert len(asked_again & answered_before) <= 4
    assert len(asked_again) == 96 - len(stored)
    _, scan = scan_file(digest, Settings(language="English"))
    assert scan.needs_repair == []
