"""Ctrl-C keeps paid work: the first stops sending, waits for the answers in flight, journals and writes
them, writes the report and exits 130; the rerun asks no paper twice. A second Ctrl-C ends at once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from resummarize.cli import main
from resummarize.config import Settings
from resummarize.plan import scan_file
from resummarize.testing.server import FakeProvider


def _arguments(digest: Path, tmp_path: Path) -> list[str]:
    return ["repair", str(digest), "--language", "English", "--cache", str(tmp_path / "journal.db"),
            "--concurrency", "4", "--report", str(tmp_path / "report.json")]


def _command(digest: Path, tmp_path: Path) -> list[str]:
    """The run in a process of its own: it is sent the signals."""
    return [sys.executable, "-m", "resummarize", *_arguments(digest, tmp_path)]


def _wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_first_ctrl_c_keeps_the_answers_in_flight_and_the_rerun_asks_no_paper_twice(
    tmp_path: Path, seed_subset: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = tmp_path / "seed.md"
    shutil.copyfile(seed_subset(40), digest)  # 38 entries to repair
    with FakeProvider(latency=0.3) as fake:
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
        first = subprocess.Popen(_command(digest, tmp_path), env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: fake.count(status=200) >= 10 and fake.in_flight >= 2)
        assert first.poll() is None, "the run ended before it could be interrupted"
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
        first_asked = Counter(r.paper_id for r in fake.requests if r.paper_id is not None)
        report = json.loads((tmp_path / "report.json").read_text())  # written by the interrupted run
        fake.reset_log()
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        second = main(_arguments(digest, tmp_path))  # the rerun in-process: it is sent no signal
        second_asked = Counter(r.paper_id for r in fake.requests if r.paper_id is not None)

    assert first.returncode == 130, err
    assert "waiting up to 60 s for the answers in flight" in err and "Traceback" not in err
    repaired = {e["id"] for e in report["entries"] if e["status"] == "repaired"}
    assert repaired == set(first_asked)  # every answer paid for was kept, in flight at the Ctrl-C too
    assert len(repaired) < 38 and report["totals"]["requests"] == sum(first_asked.values())
    assert max(first_asked.values()) == 1 and not set(second_asked) & set(first_asked)
    assert second == 0, capsys.readouterr().err
    assert len(second_asked) == 38 - len(repaired)
    _, scan = scan_file(digest, Settings(language="English"))
    assert scan.needs_repair == []


def test_a_second_ctrl_c_ends_at_once(tmp_path: Path, seed_path: Path) -> None:
    digest = tmp_path / "seed.md"
    shutil.copyfile(seed_path, digest)
    with FakeProvider(latency=30.0) as fake:  # answers that would keep the first Ctrl-C waiting
        env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
        run = subprocess.Popen(_command(digest, tmp_path), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        _wait_for(lambda: fake.in_flight >= 1)
        run.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert run.poll() is None  # waiting for the answer in flight
        started = time.monotonic()
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=20)
        took = time.monotonic() - started
    assert run.returncode == 130 and took < 10, err
    assert digest.read_bytes() == seed_path.read_bytes()
