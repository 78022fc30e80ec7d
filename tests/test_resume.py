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

from resummarize.config import Settings
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider


def _stored(journal: Path) -> set[str]:
    with sqlite3.connect(journal) as db:
        return {row[0] for row in db.execute("SELECT paper_id FROM answers")}


def test_kill_9_then_rerun_repeats_only_requests_in_flight(tmp_path: Path, seed_path: Path) -> None:
    digest, journal = tmp_path / "seed.md", tmp_path / "journal.db"
    shutil.copyfile(seed_path, digest)
    command = [sys.executable, "-m", "resummarize", "repair", str(digest), "--language", "English",
               "--cache", str(journal), "--concurrency", "4"]
    with FakeProvider(latency=0.25) as fake:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
        first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while fake.count(status=200) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        answered_before = {r.paper_id for r in fake.requests if r.status == 200}
        stored = _stored(journal)
        assert digest.read_bytes() == seed_path.read_bytes()  # killed before writing: input intact
        fake.reset_log()

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        asked_again = {r.paper_id for r in fake.requests}

    assert second.returncode == 0, second.stderr
    assert len(stored) >= 20
    assert not asked_again & stored  # nothing the engine had received is asked for again
    # Only answers that were on the wire at the kill may be repeated (at most one per worker).
    assert len(asked_again & answered_before) <= 4
    assert len(asked_again) == 96 - len(stored)
    _, scan = scan_file(digest, Settings(language="English"))
    assert scan.needs_repair == []
