"""Never lose a write: other writers of the same file, symlinks, runs killed during their writes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from engine import answers_in, client_for
from waiting import becomes, wait_for

from resummarize import outbox
from resummarize.cli import main
from resummarize.config import RepairOptions, Settings
from resummarize.engine import repair
from resummarize.journal import Journal
from resummarize.lock import file_lock, lock_path
from resummarize.plan import Run, scan_file
from resummarize.provider.prompts import load_prompts
from resummarize.report import EntryResult, RepairReport, table
from resummarize.testing.server import FakeProvider
from resummarize.worker import Worker
from resummarize.writer import open_writers

NAME = "2026-05-21_AI_enhanced_Chinese.jsonl"
#: What the corpus file needs: 48 broken entries, 60 papers of the raw crawl it dropped.
BROKEN, MISSING = 48, 60


def left(path: Path) -> tuple[int, int]:
    _, scan = scan_file(path, Settings())
    return len(scan.needs_repair), len(scan.missing)


async def repair_with(fake: FakeProvider, path: Path, journal: Path, **kwargs: Any) -> RepairReport:
    """One run with its own journal connection and client, as a separate process would have."""
    hooks = {k: kwargs.pop(k) for k in ("on_plan", "on_lock", "on_result") if k in kwargs}
    with Journal(journal) as db:
        client = client_for(fake)
        try:
            return await repair([path], RepairOptions(**kwargs), client=client, journal=db, prompts=load_prompts(),
                                **hooks)
        finally:
            await client.close()


def good_line_with_id(path: Path, paper_id: str) -> bytes:
    """A line as the pipeline would append it: an enhanced entry that needs nothing."""
    _, scan = scan_file(path, Settings())
    broken = {item.id for item in scan.needs_repair}
    for line in path.read_bytes().splitlines():
        obj = json.loads(line)
        if obj["id"] not in broken:
            obj["id"] = paper_id
            return json.dumps(obj).encode() + b"\n"
    raise AssertionError("no good entry")


async def test_a_line_appended_during_the_repair_survives_and_the_repairs_land(data: Path, tmp_path: Path) -> None:
    appended = good_line_with_id(data, "2605.99999")

    def pipeline_appends(result: EntryResult) -> None:  # the file is read and planned; its answers arrive
        if result.status == "repaired" and not data.read_bytes().endswith(appended):
            with data.open("ab") as handle:
                handle.write(appended)

    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db", on_result=pipeline_appends)
        asked = fake.count(path="/v1/chat/completions")
    assert report.totals.repaired == BROKEN and report.totals.failed == 0 and asked == BROKEN
    assert data.read_bytes().endswith(appended)
    assert left(data) == (0, MISSING)
    assert report.merged == [str(data)]  # the closing table says the pipeline's line was kept
    assert "of which changed meanwhile  1 (the other writer's changes kept)" in table(report)


async def test_an_entry_rewritten_meanwhile_is_left_as_the_other_writer_left_it(data: Path, tmp_path: Path) -> None:
    _, scan = scan_file(data, Settings())
    target = scan.needs_repair[0].id
    lines = data.read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if json.loads(line)["id"] == target)
    obj = json.loads(lines[index])
    obj["AI"] = {key: f"另一个写入者为{key}写的内容。" for key in obj["AI"]}
    theirs = json.dumps(obj, ensure_ascii=False).encode() + b"\n"

    def other_writer(result: EntryResult) -> None:  # once the file is read and its answers arrive
        if result.status == "repaired" and lines[index] != theirs:
            lines[index] = theirs
            data.write_bytes(b"".join(lines))

    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db", on_result=other_writer)
    assert data.read_bytes().splitlines(keepends=True)[index] == theirs
    failed = [e for e in report.entries if e.status == "failed"]
    assert [e.id for e in failed] == [target] and "changed on disk" in (failed[0].error or "")
    assert report.totals.repaired == BROKEN - 1
    assert left(data) == (0, MISSING)


async def test_two_concurrent_repairs_keep_both_runs_work_and_pay_nothing_twice(data: Path, tmp_path: Path) -> None:
    """The second run (restoring dropped papers too) waits for the first; it then finds the first run's
    repairs in the file and asks only for the dropped papers."""
    waited: list[Path] = []
    second: list[asyncio.Task[RepairReport]] = []

    with FakeProvider() as fake:
        def start_second(run: Run) -> None:  # the first run holds the lock and has read the file
            second.append(asyncio.create_task(repair_with(fake, data, tmp_path / "j.db", restore_missing=True,
                                                          on_lock=waited.append)))

        first = await repair_with(fake, data, tmp_path / "j.db", on_plan=start_second)
        other = await second[0]
        asked = Counter(r.paper_id for r in fake.requests if r.path == "/v1/chat/completions")
    assert waited == [data]
    assert first.totals.repaired == BROKEN and other.totals.repaired == MISSING
    assert sum(asked.values()) == BROKEN + MISSING and max(asked.values()) == 1
    assert left(data) == (0, 0)
    assert not lock_path(data).exists()


def test_no_wait_skips_a_file_another_run_holds(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    before = data.read_bytes()
    with FakeProvider() as fake, file_lock(data) as held:
        assert held
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        code = main(["repair", str(data), "--no-wait", "--base-url", fake.base_url, "--cache", str(tmp_path / "j")])
        assert fake.count() == 0
    assert code == 0 and data.read_bytes() == before
    assert f"skipped {data}: another resummarize run is repairing it" in capsys.readouterr().err


async def test_a_lock_left_by_a_killed_run_is_taken_over(data: Path, tmp_path: Path) -> None:
    lock_path(data).write_bytes(b"")  # what a run killed while holding the lock leaves: the file, no lock
    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db")
    assert report.totals.repaired == BROKEN and not lock_path(data).exists()


async def test_a_symlinked_digest_is_repaired_through_the_link(seed_subset: Any, tmp_path: Path) -> None:
    real = tmp_path / "store" / "digest.md"
    real.parent.mkdir()
    shutil.copyfile(seed_subset(6), real)
    real.chmod(0o640)
    link = tmp_path / "site" / "digest.md"
    link.parent.mkdir()
    link.symlink_to(Path("..") / "store" / "digest.md")
    with FakeProvider() as fake:
        report = await repair_with(fake, link, tmp_path / "j.db", settings=Settings(language="English"))
    assert report.totals.repaired == report.totals.needs_repair == 5 and report.written == [str(link)]
    assert link.is_symlink() and os.readlink(link) == str(Path("..") / "store" / "digest.md")
    assert real.stat().st_mode & 0o777 == 0o640
    _, scan = scan_file(real, Settings(language="English"))
    assert scan.needs_repair == []
    assert sorted(p.name for p in real.parent.iterdir()) == ["digest.md"]


KILLED_WRITER = """
import os, sys
from pathlib import Path
from resummarize import writer

real_replace = os.replace
def stop_before_rename(src, dst):  # the temp file is written and synced; the rename has not happened
    print("written", flush=True)
    sys.stdin.read()
os.replace = stop_before_rename
writer.write_atomic(Path(sys.argv[1]), b"x" * (8 << 20))
"""


def kill_during_write(target: Path) -> None:
    """A run writing a large digest, killed with SIGKILL after its temp file is written."""
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"written\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.stdin is not None
    child.stdin.close()
    child.stdout.close()


async def test_runs_killed_during_their_writes_leave_nothing_after_a_clean_rerun(
    seed_subset: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "digests"
    folder.mkdir()
    digest = folder / "digest.md"
    shutil.copyfile(seed_subset(4), digest)
    for _ in range(4):  # each killed run has removed the temp file of the one before: one is left
        kill_during_write(digest)
        temps = [p.name for p in folder.iterdir() if p.name != "digest.md"]
        assert len(temps) == 1 and temps[0].startswith(".digest.md.resummarize-") and temps[0].endswith(".tmp")
    with FakeProvider() as fake:
        report = await repair_with(fake, digest, tmp_path / "j.db", settings=Settings(language="English"))
    assert report.totals.repaired == report.totals.needs_repair == 3
    assert [p.name for p in folder.iterdir()] == ["digest.md"]


# --- another writer's open file, another file renamed over it, one lock whatever the name -----------------

#: A pipeline step appending to a digest through the descriptor it keeps open (see the script).
APPENDING_PIPELINE = str(Path(__file__).with_name("appending_pipeline.py"))


def good_lines(path: Path, count: int) -> bytes:
    return b"".join(good_line_with_id(path, f"2605.{90000 + i}") for i in range(count))


async def test_lines_a_pipeline_appends_through_its_open_file_are_all_kept(data: Path, tmp_path: Path) -> None:
    """The pipeline writes 30 lines while the answers arrive, and 30 more once the file was replaced
    (or after 3 s, when it was not): every one of them must end up in the digest."""
    lines = tmp_path / "lines"
    lines.write_bytes(good_lines(data, 60))
    inode = data.stat().st_ino
    pipeline = subprocess.Popen([sys.executable, APPENDING_PIPELINE, str(data), str(lines)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert pipeline.stdin is not None and pipeline.stdout is not None
    assert pipeline.stdout.readline() == b"open\n"
    replaced_while_open: list[bool] = []

    def second_half() -> None:
        assert pipeline.stdin is not None and pipeline.stdout is not None
        assert pipeline.stdout.readline() == b"written\n"
        replaced_while_open.append(becomes(lambda: data.stat().st_ino != inode, within=3.0))
        pipeline.stdin.write(b"more\n")
        pipeline.stdin.flush()

    helper = threading.Thread(target=second_half)

    def start(result: EntryResult) -> None:
        if not helper.is_alive() and not replaced_while_open:
            helper.start()
            assert pipeline.stdin is not None
            pipeline.stdin.write(b"go\n")
            pipeline.stdin.flush()

    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db", on_result=start)
        asked = fake.count(path="/v1/chat/completions")
    helper.join()
    assert pipeline.wait(10) == 0
    pipeline.stdin.close()
    pipeline.stdout.close()
    assert replaced_while_open == [False]
    assert data.read_bytes().endswith(lines.read_bytes())
    assert report.totals.repaired == BROKEN and report.totals.failed == 0 and asked == BROKEN
    assert left(data) == (0, MISSING)


async def test_a_pipeline_that_keeps_the_file_open_gets_it_left_alone_and_reported(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "WRITER_WAIT", 0.5)
    before = data.read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", "import sys; f = open(sys.argv[1], 'ab'); sys.stdin.read()",
                               str(data)], stdin=subprocess.PIPE)
    try:
        wait_for(lambda: data in open_writers([data]))
        with FakeProvider() as fake:
            report = await repair_with(fake, data, tmp_path / "j.db")
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait()
    assert data.read_bytes() == before and report.written == []
    assert report.totals.repaired == 0 and report.totals.failed == BROKEN
    assert f"held open for writing by pid {holder.pid} (python" in (report.entries[0].error or "")
    with Journal(tmp_path / "j.db") as journal:
        assert answers_in(journal) == BROKEN  # paid for once: the next run writes them without asking


async def test_another_days_digest_renamed_over_the_file_mid_run_is_left_alone(
    data: Path, tmp_path: Path, corpus_dir: Path
) -> None:
    other = data.with_name("incoming.jsonl")
    shutil.copyfile(corpus_dir / "2026-05-02_AI_enhanced_Chinese.jsonl", other)
    theirs = other.read_bytes()

    def swap(result: EntryResult) -> None:  # the file is read and planned; its answers arrive
        if other.exists():
            other.replace(data)

    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db", restore_missing=True, on_result=swap)
    assert data.read_bytes() == theirs
    assert report.written == [] and report.totals.repaired == 0
    assert report.totals.failed == BROKEN + MISSING
    assert all("replaced by another file" in (e.error or "") for e in report.entries)


async def test_two_runs_through_a_symlink_share_one_lock_and_pay_once(data: Path, tmp_path: Path) -> None:
    link = tmp_path / "site" / data.name
    link.parent.mkdir()
    link.symlink_to(data)
    waited: list[Path] = []
    second: list[asyncio.Task[RepairReport]] = []

    with FakeProvider() as fake:
        def start_second(run: Run) -> None:  # the first run holds the lock and has read the file
            second.append(asyncio.create_task(repair_with(fake, link, tmp_path / "j.db", on_lock=waited.append)))

        first = await repair_with(fake, data, tmp_path / "j.db", on_plan=start_second)
        other = await second[0]
        asked = Counter(r.paper_id for r in fake.requests if r.path == "/v1/chat/completions")
    assert waited == [link]
    assert first.totals.repaired == BROKEN and other.totals.needs_repair == 0
    assert sum(asked.values()) == BROKEN and max(asked.values()) == 1
    assert link.is_symlink() and left(data) == (0, MISSING)


def test_a_digest_with_two_hard_links_is_refused_before_any_request(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    twin = tmp_path / "twin.jsonl"
    os.link(data, twin)
    before = data.read_bytes()
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        codes = [main(["repair", str(path), "--base-url", fake.base_url, "--cache", str(tmp_path / "j")])
                 for path in (data, twin)]
        assert fake.count() == 0
    assert codes == [2, 2] and data.read_bytes() == before
    assert os.stat(data).st_ino == os.stat(twin).st_ino
    err = capsys.readouterr().err
    assert f"{data}: has 2 hard links" in err and f"{twin}: has 2 hard links" in err


async def test_a_repaired_digest_keeps_its_setgid_bit_and_extended_attributes(data: Path, tmp_path: Path) -> None:
    data.chmod(0o2664)
    os.setxattr(data, "user.origin", b"pipeline")
    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db")
    assert report.totals.repaired == BROKEN and left(data) == (0, MISSING)
    assert stat.S_IMODE(data.stat().st_mode) == 0o2664
    assert os.getxattr(data, "user.origin") == b"pipeline"


async def test_a_line_written_into_the_old_file_during_the_rename_is_carried_over(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer's line lands in the file after the last check, just before the rename replaces it."""
    late = good_line_with_id(data, "2605.99998")
    real_replace = os.replace

    def replace_after_a_late_line(src: Any, dst: Any) -> None:
        if Path(dst) == data and not data.read_bytes().endswith(late):
            with data.open("ab") as handle:
                handle.write(late)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_after_a_late_line)
    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db")
    assert data.read_bytes().endswith(late)
    assert report.totals.repaired == BROKEN and report.totals.failed == 0 and report.written == [str(data)]
    assert left(data) == (0, MISSING)


def test_a_watching_worker_leaves_a_file_alone_while_a_program_holds_it_open(data: Path, tmp_path: Path) -> None:
    """Quiet for longer than the settle time, yet still open for writing: not touched until it is closed."""
    lines = tmp_path / "lines"
    lines.write_bytes(good_lines(data, 60))
    writer = subprocess.Popen([sys.executable, APPENDING_PIPELINE, str(data), str(lines)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert writer.stdin is not None and writer.stdout is not None
    assert writer.stdout.readline() == b"open\n"
    writer.stdin.write(b"go\n")
    writer.stdin.flush()
    assert writer.stdout.readline() == b"written\n"
    inode = data.stat().st_ino
    with FakeProvider() as fake, Journal(tmp_path / "j.db") as journal:
        worker = Worker(data.parent, RepairOptions(), make_client=lambda: client_for(fake), journal=journal,
                        prompts=load_prompts(), log=lambda line: None, stop=threading.Event(), settle=0.2)
        wait_for(lambda: time.time() - data.stat().st_mtime > 0.4)
        worker.run_pass()
        assert fake.count() == 0 and data.stat().st_ino == inode
        writer.stdin.write(b"more\n")
        writer.stdin.flush()
        assert writer.wait(10) == 0
        wait_for(lambda: time.time() - data.stat().st_mtime > 0.4)
        assert worker.run_pass().files == 1
        assert fake.count(path="/v1/chat/completions") == BROKEN
    writer.stdin.close()
    writer.stdout.close()
    assert data.read_bytes().endswith(lines.read_bytes())
    assert left(data) == (0, MISSING)


async def test_an_entry_removed_meanwhile_is_reported_removed_and_not_brought_back(data: Path, tmp_path: Path) -> None:
    _, scan = scan_file(data, Settings())
    target = scan.needs_repair[0].id
    kept = [line for line in data.read_bytes().splitlines(keepends=True) if json.loads(line)["id"] != target]

    def other_writer(result: EntryResult) -> None:  # once the file is read and its answers arrive
        if result.status == "repaired" and len(data.read_bytes().splitlines()) != len(kept):
            data.write_bytes(b"".join(kept))

    with FakeProvider() as fake:
        report = await repair_with(fake, data, tmp_path / "j.db", on_result=other_writer)
    assert target not in {json.loads(line)["id"] for line in data.read_bytes().splitlines()}
    removed = [e for e in report.entries if e.status == "removed"]  # neither repaired nor failed
    assert [e.id for e in removed] == [target] and "removed from the file by another writer" in (removed[0].error or "")
    assert report.totals.removed == 1 and report.totals.failed == 0
    assert report.totals.repaired == BROKEN - 1 and left(data) == (0, MISSING + 1)  # now missing from the crawl
