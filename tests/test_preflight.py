"""Errors found before spending: unwritable targets, odd inputs, a wrong endpoint, mistyped options; and
the two failures after spending that must not lose anything (a full journal disk, an unwritable report)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from engine import client_for

from resummarize.cli import main
from resummarize.config import RepairOptions, Settings
from resummarize.engine import repair
from resummarize.errors import ReportError
from resummarize.journal import Journal
from resummarize.plan import Run, scan_file
from resummarize.provider.prompts import load_prompts
from resummarize.testing.server import FakeProvider

Drop = Callable[[], AbstractContextManager[None]]
BURST_DAY = "2026-05-21_AI_enhanced_Chinese.jsonl"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MODEL_NAME", "LANGUAGE"):
        monkeypatch.delenv(name, raising=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    try:
        code = main([str(arg) for arg in args])
    except SystemExit as exit:  # argparse's own errors
        code = int(exit.code or 0)
    return code, capsys.readouterr().err


def shared_copy(source: Path, folder: Path, name: str = "digest.md") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)
    target = folder / name
    shutil.copyfile(source, target)
    target.chmod(0o666)
    return target


# --- unwritable targets: found before the first request ------------------------------------------------


@pytest.mark.parametrize("case", ["read-only folder", "--out", "--report"])
def test_an_unwritable_target_stops_the_run_before_any_request(
    case: str, seed_subset: Any, open_tmp: Path, unprivileged: Drop, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = shared_copy(seed_subset(4), open_tmp / "data")
    locked = open_tmp / "locked"
    locked.mkdir(mode=0o555)
    locked.chmod(0o555)
    extra: list[str | Path] = []
    if case == "read-only folder":
        digest.parent.chmod(0o555)
        named = digest
    elif case == "--out":
        named = locked / "sub" / "out.md"
        extra = ["--out", named]
    else:
        named = locked / "report.json"
        extra = ["--report", named]
    before = digest.read_bytes()
    with FakeProvider() as fake, unprivileged():
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code, err = cli(capsys, "repair", digest, "--language", "English", "--base-url", fake.base_url,
                        "--cache", open_tmp / "j.db", *extra)
        asked = fake.count()
    assert (code, asked) == (2, 0)
    assert err.count("\n") == 1 and str(named) in err and "not writable" in err
    assert digest.read_bytes() == before


@pytest.mark.parametrize("option", ["--report", "--out"])
def test_a_report_or_output_in_folders_still_to_be_made_is_written_there(
    option: str, seed_subset: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = seed_subset(3)
    named = tmp_path / "not" / "yet" / ("report.json" if option == "--report" else "out.md")
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code, err = cli(capsys, "repair", digest, "--language", "English", "--base-url", fake.base_url,
                        "--cache", tmp_path / "j.db", option, named)
    assert code == 0, err
    assert named.stat().st_size > 0
    if option == "--report":
        assert json.loads(named.read_text())["totals"]["repaired"] > 0


@pytest.mark.parametrize("option", ["--report", "--out"])
def test_a_report_or_output_under_a_file_stops_the_run_before_any_request(
    option: str, seed_subset: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = seed_subset(3)
    before = digest.read_bytes()
    named = digest / "report.json"  # the digest is a file: nothing can be made under it
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code, err = cli(capsys, "repair", digest, "--language", "English", "--base-url", fake.base_url,
                        "--cache", tmp_path / "j.db", option, named)
        asked = fake.count()
    assert (code, asked) == (2, 0)
    assert err.count("\n") == 1 and "is not a folder" in err
    assert digest.read_bytes() == before


async def test_a_report_that_cannot_be_written_after_the_digest_was_has_its_own_exit_code(
    seed_subset: Any, open_tmp: Path, unprivileged: Drop
) -> None:
    digest = shared_copy(seed_subset(4), open_tmp / "data")
    reports = open_tmp / "reports"

    def folder_turns_read_only(run: Run) -> None:  # after the checks, before the answers
        os.chmod(reports, 0o555)

    options = RepairOptions(settings=Settings(language="English"), report=reports / "report.json")
    with FakeProvider() as fake, unprivileged(), Journal(open_tmp / "j.db") as db:
        reports.mkdir()  # ours, so that we may make it read-only
        client = client_for(fake)
        with pytest.raises(ReportError) as info:
            await repair([digest], options, client=client, journal=db, prompts=load_prompts(),
                         on_plan=folder_turns_read_only)
        await client.close()
    assert info.value.exit_code == 6 and info.value.written == 1 and "1 digest file(s) were written" in str(info.value)
    _, scan = scan_file(digest, Settings(language="English"))
    assert scan.needs_repair == []


# --- a full disk under the journal ---------------------------------------------------------------------


class FillingDisk:
    """A journal connection whose disk fills up after `room` answers."""

    def __init__(self, db: sqlite3.Connection, room: int) -> None:
        self.db, self.room = db, room

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if sql.lstrip().startswith("INSERT") and "INTO answers" in sql:
            if self.room == 0:
                raise sqlite3.OperationalError("database or disk is full")
            self.room -= 1
        return self.db.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_full_journal_disk_stops_cleanly_and_keeps_every_answer_received(
    seed_subset: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = tmp_path / "digest.md"
    shutil.copyfile(seed_subset(12), digest)
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: FillingDisk(connect(*a, **k), room=5))
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code, err = cli(capsys, "repair", digest, "--language", "English", "--base-url", fake.base_url,
                        "--concurrency", "1", "--cache", tmp_path / "j.db", "--report", tmp_path / "report.json")
        answered = {r.paper_id for r in fake.requests if r.status == 200}
    monkeypatch.undo()
    assert code == 5
    assert err.count("\n") == 1 and "database or disk is full" in err and str(tmp_path / "j.db") in err
    with connect(tmp_path / "j.db") as db:
        journaled = {row[0] for row in db.execute("SELECT paper_id FROM answers")}
    assert len(journaled) == 5 and len(answered) == 6
    report = json.loads((tmp_path / "report.json").read_text())
    repaired = {e["id"] for e in report["entries"] if e["status"] == "repaired"}
    assert repaired == answered  # every answer received is written to the digest, journaled or not
    _, scan = scan_file(digest, Settings(language="English"))
    assert not {item.id for item in scan.needs_repair} & answered
    assert scan.needs_repair  # the rest was never asked for


# --- inputs that are not files, folders that cannot be read, a broken raw crawl --------------------------


def test_fifos_and_devices_are_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "digest.md"
    os.mkfifo(fifo)
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a device"), (Path("/dev/urandom"), "a device")):
        # A subprocess with a timeout: the old behaviour was to hang on the FIFO, or read /dev/zero forever.
        done = subprocess.run([sys.executable, "-c", "from resummarize.cli import main; raise SystemExit(main())",
                               "scan", str(path)], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2
        assert done.stderr == f"resummarize: error: {path}: is {kind}, not a regular file: pass a digest file\n"


def test_an_unreadable_subfolder_is_reported(
    corpus_dir: Path, open_tmp: Path, unprivileged: Drop, capsys: pytest.CaptureFixture[str]
) -> None:
    shared_copy(corpus_dir / BURST_DAY, open_tmp / "data", BURST_DAY)
    hidden = open_tmp / "data" / "2026-06"
    hidden.mkdir()
    hidden.chmod(0o000)  # no one but root may list it
    with unprivileged():
        code, err = cli(capsys, "scan", open_tmp / "data")
    assert code == 2 and f"{hidden}: cannot read the folder: Permission denied" in err


def test_a_broken_raw_crawl_matters_only_when_restoring(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copyfile(corpus_dir / BURST_DAY, tmp_path / BURST_DAY)
    raw = tmp_path / "2026-05-21.jsonl"
    raw.write_bytes(b"this is no crawl\n")
    code, err = cli(capsys, "scan", tmp_path)
    assert code == 1 and "error" not in err
    code, err = cli(capsys, "repair", tmp_path, "--dry-run", "--cache", tmp_path / "j.db")
    assert code == 1 and "error" not in err
    code, err = cli(capsys, "repair", tmp_path, "--dry-run", "--restore-missing", "--cache", tmp_path / "j.db")
    assert code == 2 and f"{raw}: cannot restore missing papers: not a raw crawl file" in err


# --- the user's first minute ---------------------------------------------------------------------------


def test_nothing_listening_at_the_base_url_is_exit_3_after_one_attempt_naming_the_url(
    seed_subset: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, err = cli(capsys, "repair", seed_subset(4), "--language", "English", "--base-url", url,
                    "--cache", tmp_path / "j.db", "--report", tmp_path / "report.json")
    assert code == 3 and url in err and "connection refused" in err and err.count("\n") == 1
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["totals"]["requests"] == 1  # no retries, no second paper: it is the configuration


def test_tls_spoken_to_a_plain_http_port_is_exit_3_at_once_naming_the_url(
    seed_subset: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeProvider() as fake:
        url = fake.base_url.replace("http://", "https://")
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code, err = cli(capsys, "repair", seed_subset(4), "--language", "English", "--base-url", url,
                        "--cache", tmp_path / "j.db", "--report", tmp_path / "report.json")
        answered = fake.count(status=200)
    assert code == 3 and url in err and "TLS handshake failed" in err and "http://" in err
    assert err.count("\n") == 1 and answered == 0
    assert json.loads((tmp_path / "report.json").read_text())["totals"]["requests"] == 1  # no retries


@pytest.mark.parametrize("url", ["127.0.0.1:8000/v1", "localhost/v1", "ftp://example.org/v1"])
def test_a_base_url_without_an_http_scheme_is_a_usage_error_before_anything(
    url: str, seed_subset: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    journal = tmp_path / "j.db"
    code, err = cli(capsys, "repair", seed_subset(4), "--language", "English", "--cache", journal)
    assert code == 2 and url in err and "not an http:// or https:// URL" in err and err.count("\n") == 1
    assert not journal.exists()


@pytest.mark.parametrize(("args", "said"), [
    (["repiar", "DATA"], "unknown command repiar (did you mean repair?)"),
    (["sacn", "DATA", "--json"], "unknown command sacn (did you mean scan?)"),
    (["scan", "DATA", "--langauge", "Chinese"], "unknown option --langauge (did you mean --language?)"),
    (["repair", "--concurency", "4", "DATA"], "unknown option --concurency (did you mean --concurrency?)"),
    (["repair", "4", "DATA"], "4: a number where a path is expected"),
])
def test_a_mistyped_option_is_named_with_the_one_meant(
    args: list[str], said: str, corpus_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    code, err = cli(capsys, *[str(corpus_dir) if a == "DATA" else a for a in args])
    assert code == 2 and said in err


def test_inputs_are_checked_before_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = cli(capsys, "repair", tmp_path)
    assert code == 2 and "no digests found under this folder" in err and "OPENAI_API_KEY" not in err


def test_a_worker_on_an_empty_folder_says_there_is_nothing_to_watch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    (tmp_path / "data").mkdir()
    code, err = cli(capsys, "worker", tmp_path / "data", "--once", "--cache", tmp_path / "j.db")
    assert code == 0 and f"nothing to watch in {tmp_path / 'data'}" in err


def test_permissions_apply_in_the_unprivileged_block_yet_a_private_checkout_stays_readable(
    unprivileged: Drop, tmp_path: Path
) -> None:
    """A clone in a `mktemp -d` folder (mode 0700) run as root: the package must stay readable while the
    block makes permissions apply."""
    private = tmp_path / "clone"
    private.mkdir(mode=0o700)
    (private / "prompt.j2").write_text("hello", encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    with unprivileged():
        assert (private / "prompt.j2").read_text(encoding="utf-8") == "hello"
        with pytest.raises(PermissionError):
            (locked / "new").write_text("", encoding="utf-8")
    if os.geteuid() == 0:
        (locked / "new").write_bytes(b"")  # the privileges are back after the block
