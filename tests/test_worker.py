"""The watching worker against the fake provider: passes, change detection, locks, signals, two workers."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest
from engine import answers_in
from waiting import wait_for

from resummarize import load
from resummarize.config import RepairOptions, Settings
from resummarize.digest import JsonlDigest
from resummarize.digest.render import render_markdown
from resummarize.errors import UsageError
from resummarize.journal import Journal
from resummarize.language import resolve
from resummarize.plan import scan_file
from resummarize.provider import wire
from resummarize.provider.prompts import load_prompts
from resummarize.rerender import render_targets
from resummarize.testing.server import FakeProvider, Fault, FaultPlan
from resummarize.worker import Worker, file_lock, run_worker

REPO = Path(__file__).resolve().parent.parent
BURST = "2026-05-21_AI_enhanced_Chinese.jsonl"  # 48 failed entries; 60 papers of its raw crawl are missing
RAW = "2026-05-21.jsonl"
THREE = "2025-10-23_AI_enhanced_Chinese.jsonl"  # three failed entries
SMALL = "2025-05-19_AI_enhanced_Chinese.jsonl"  # a failed entry, an English one and one in Traditional Chinese
CHAT = "/v1/chat/completions"


def copy(corpus: Path, folder: Path, *names: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(corpus / name, folder / name)) for name in names]


def broken(path: Path) -> set[str]:
    """Ids still needing repair, missing papers included."""
    _, scan = scan_file(path, Settings())
    return {item.id for item in scan.needs_repair} | set(scan.missing)


def rendered(path: Path) -> str:
    digest = load(path)
    assert isinstance(digest, JsonlDigest)
    return render_markdown(digest)


def answered(fake: FakeProvider) -> list[str]:
    return [r.paper_id for r in fake.requests if r.path == CHAT and r.status == 200 and r.paper_id]


def client_maker(fake: FakeProvider) -> Callable[[], openai.AsyncOpenAI]:
    return lambda: wire.client(fake.api_key, fake.base_url, 10)


def lines_about(log: list[str], path: Path) -> list[str]:
    return [line for line in log if re.match(rf"\w+ {re.escape(str(path))}(:|$)", line)]


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "journal.db") as db:
        yield db


def make_worker(
    folder: Path, fake: FakeProvider, journal: Journal, log: list[str], *, settle: float = 0.0, retry: float = 3600
) -> Worker:
    return Worker(folder, RepairOptions(), make_client=client_maker(fake), journal=journal, prompts=load_prompts(),
                  log=log.append, stop=threading.Event(), settle=settle, retry_failed=retry)


def test_once_repairs_every_file_restores_missing_papers_and_rerenders_the_markdown(
    corpus_dir: Path, tmp_path: Path, fake: FakeProvider
) -> None:
    data = tmp_path / "data"
    burst, _, three, small = copy(corpus_dir, data, BURST, RAW, THREE, SMALL)
    markdown = data / "2026-05-21.md"
    markdown.write_text(rendered(burst), encoding="utf-8")
    old_markdown = markdown.read_text(encoding="utf-8")
    needed = {path: broken(path) for path in (burst, three, small)}
    assert [len(ids) for ids in needed.values()] == [108, 3, 3]
    log: list[str] = []
    handler = signal.getsignal(signal.SIGTERM)

    code = run_worker(data, RepairOptions(restore_missing=True), make_client=client_maker(fake),
                      journal_path=tmp_path / "journal.db", prompts=load_prompts(), interval=60, once=True,
                      log=log.append)

    assert code == 0
    assert signal.getsignal(signal.SIGTERM) is handler
    assert all(not broken(path) for path in needed)
    asked = answered(fake)
    assert len(asked) == len(set(asked)) == 114
    assert set(asked) == set().union(*needed.values())
    assert lines_about(log, burst) == [
        f"repaired {burst}: 48 repaired, 0 failed, 108 requests, 60 restored, 0 from journal"]
    assert lines_about(log, three) == [
        f"repaired {three}: 3 repaired, 0 failed, 3 requests, 0 restored, 0 from journal"]
    # The markdown digest is derived: never repaired on its own, re-rendered from the repaired JSONL file.
    assert lines_about(log, markdown) == [f"rendered {markdown}"]
    assert markdown.read_text(encoding="utf-8") == rendered(burst) != old_markdown
    assert not list(data.glob(".*"))  # no lock or temp files left behind


def test_malformed_file_is_skipped_and_a_locked_file_waits_for_the_next_pass(
    corpus_dir: Path, tmp_path: Path, fake: FakeProvider, journal: Journal
) -> None:
    data = tmp_path / "data"
    three, small = copy(corpus_dir, data, THREE, SMALL)
    bad = data / "2026-01-01_AI_enhanced_Chinese.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    log: list[str] = []
    worker = make_worker(data, fake, journal, log)

    with (data / f".{small.name}.lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another worker holds it
        first = worker.run_pass()
    assert (first.files, first.errors, first.skipped, first.exit_code) == (1, 1, 1, 1)
    assert len(lines_about(log, bad)) == 1 and lines_about(log, bad)[0].startswith(f"error {bad}: line 1: not a digest")
    assert lines_about(log, small) == [f"skipped {small}: locked by another worker"]
    assert lines_about(log, three)[0].startswith(f"repaired {three}: 3 repaired")
    assert set(answered(fake)) == broken(corpus_dir / THREE)

    log.clear()
    second = worker.run_pass()
    assert (second.files, second.errors, second.exit_code) == (1, 0, 0)
    assert log == [f"repaired {small}: 3 repaired, 0 failed, 3 requests, 0 restored, 0 from journal"]
    assert not broken(small) and not broken(three)
    assert not list(data.glob(".*"))


def test_changed_files_are_processed_again_and_the_workers_own_writes_are_not(
    corpus_dir: Path, tmp_path: Path, fake: FakeProvider, journal: Journal
) -> None:
    data = tmp_path / "data"
    (three,) = copy(corpus_dir, data, THREE)
    log: list[str] = []
    worker = make_worker(data, fake, journal, log)
    worker.run_pass()
    assert log == [f"repaired {three}: 3 repaired, 0 failed, 3 requests, 0 restored, 0 from journal"]

    log.clear()
    worker.run_pass()  # the file the worker just wrote
    stat = three.stat()
    os.utime(three, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))  # touched: same content
    worker.run_pass()
    assert log == [] and len(answered(fake)) == 3

    # Same size, same mtime, other bytes: only the content hash can tell.
    stat = three.stat()
    text = three.read_bytes()
    three.write_bytes(text.replace(b" the ", b" tHe ", 1))
    os.utime(three, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert three.stat().st_size == stat.st_size and three.read_bytes() != text
    worker.run_pass()
    assert log == [f"clean {three}"]

    log.clear()
    shutil.copyfile(corpus_dir / THREE, three)  # the pipeline writes the broken file again
    worker.run_pass()
    assert log == [f"repaired {three}: 3 repaired, 0 failed, 0 requests, 0 restored, 3 from journal"]
    assert len(answered(fake)) == 3 and not broken(three)


def one_victim(corpus_dir: Path, tmp_path: Path, fault: Fault) -> tuple[Path, Path, threading.Event, FaultPlan]:
    """THREE in a data folder, and a plan that meets its last broken paper with `fault` while the event is set."""
    data = tmp_path / "data"
    (three,) = copy(corpus_dir, data, THREE)
    victim = sorted(broken(three))[-1]
    outage = threading.Event()
    outage.set()
    plan = FaultPlan(lambda paper, _n, _attempt: fault if paper == victim and outage.is_set() else None)
    return data, three, outage, plan


#: Long enough that a second pass right after the first comes before it, even on a loaded machine (0.3 s
#: was not: a pass took longer than that under load).
RETRY = 2.0


def test_failed_entries_are_asked_again_after_a_while_not_every_pass(
    corpus_dir: Path, tmp_path: Path, journal: Journal
) -> None:
    data, three, outage, plan = one_victim(corpus_dir, tmp_path, Fault.PLACEHOLDER)
    victim = sorted(broken(three))[-1]
    log: list[str] = []
    with FakeProvider(faults=plan) as fake:
        worker = make_worker(data, fake, journal, log, retry=RETRY)
        assert worker.run_pass().exit_code == 1
        assert log[0].startswith(f"repaired {three}: 2 repaired, 1 failed,") and broken(three) == {victim}
        log.clear()
        worker.run_pass()
        assert log == []  # not before the retry delay
        outage.clear()
        time.sleep(RETRY)
        assert worker.run_pass().exit_code == 0
        assert log == [f"repaired {three}: 1 repaired, 0 failed, 1 requests, 0 restored, 0 from journal"]
        assert not broken(three)
        worker.run_pass()
        assert len(log) == 1  # a file left clean is not retried


def test_a_bad_key_stops_the_worker_with_exit_3(corpus_dir: Path, tmp_path: Path, fake: FakeProvider) -> None:
    data = tmp_path / "data"
    three, small = copy(corpus_dir, data, THREE, SMALL)
    original = three.read_bytes()
    log: list[str] = []

    def wrong_key() -> openai.AsyncOpenAI:
        return wire.client("sk-wrong", fake.base_url, 10)

    code = run_worker(data, RepairOptions(), make_client=wrong_key, journal_path=tmp_path / "j.db",
                      prompts=load_prompts(), interval=60, once=False, log=log.append, settle=0.0)
    assert code == 3
    assert len(log) == 3 and log[0] == f"watching {data} every 60 s"
    assert log[1].startswith(f"failed {small}: 0 repaired, 3 failed, 1 requests")  # first file in name order
    assert log[2].startswith(f"fatal {small}: ") and "key" in log[2].lower()
    assert fake.count(CHAT) == 1 and three.read_bytes() == original


def test_dry_run_plans_without_a_client_and_bad_options_are_refused(corpus_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (three,) = copy(corpus_dir, data, THREE)
    original = three.read_bytes()
    log: list[str] = []

    def no_client() -> openai.AsyncOpenAI:
        raise AssertionError("a dry run needs no client")

    def once(options: RepairOptions, folder: Path = data) -> int:
        return run_worker(folder, options, make_client=no_client, journal_path=tmp_path / "j.db",
                          prompts=load_prompts(), interval=60, once=True, log=log.append)

    assert once(RepairOptions(dry_run=True)) == 1
    assert log == [f"plan {three}: 3 need repair, 0 in journal"] and three.read_bytes() == original
    with pytest.raises(UsageError, match="--out"):
        once(RepairOptions(out=tmp_path / "x.jsonl"))
    with pytest.raises(UsageError, match="not a folder"):
        once(RepairOptions(), three)


def test_watch_mode_leaves_a_file_alone_until_it_settles(
    corpus_dir: Path, tmp_path: Path, fake: FakeProvider, journal: Journal
) -> None:
    data = tmp_path / "data"
    (three,) = copy(corpus_dir, data, THREE)
    log: list[str] = []
    worker = make_worker(data, fake, journal, log, settle=60.0)
    worker.run_pass()
    assert log == [] and fake.requests == []
    quiet = time.time_ns() - 120_000_000_000
    os.utime(three, ns=(quiet, quiet))
    worker.run_pass()
    assert [line.split(":")[0] for line in log] == [f"repaired {three}"]


def test_watch_mode_repairs_new_files_until_sigterm(corpus_dir: Path, tmp_path: Path, fake: FakeProvider) -> None:
    data = tmp_path / "data"
    (three,) = copy(corpus_dir, data, THREE)
    log: list[str] = []
    handler = signal.getsignal(signal.SIGTERM)

    def pipeline() -> None:
        try:
            wait_for(lambda: any(line.startswith(f"repaired {three}") for line in log))
            copy(corpus_dir, data, SMALL)  # the next day's file arrives
            wait_for(lambda: any(line.startswith(f"repaired {data / SMALL}") for line in log))
        finally:
            if signal.getsignal(signal.SIGTERM) is not handler:  # only while the worker's handler is in place
                os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=pipeline)
    thread.start()
    code = run_worker(data, RepairOptions(), make_client=client_maker(fake), journal_path=tmp_path / "j.db",
                      prompts=load_prompts(), interval=0.05, once=False, log=log.append, settle=0.0)
    thread.join()
    assert code == 0
    assert signal.getsignal(signal.SIGTERM) is handler
    assert log[0] == f"watching {data} every 0.05 s"
    assert log[-1] == "stopped by SIGTERM: validated answers are written"
    assert [line.split(":")[0] for line in log[1:-1]] == [f"repaired {three}", f"repaired {data / SMALL}"]
    assert not broken(three) and not broken(data / SMALL)


def test_file_lock_is_exclusive_and_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "day.jsonl"
    with file_lock(target) as first:
        with file_lock(target) as second:  # another open file description: as a second process would
            assert (first, second) == (True, False)
        assert (tmp_path / ".day.jsonl.lock").exists()
    assert not (tmp_path / ".day.jsonl.lock").exists()
    with file_lock(target) as again:
        assert again


def test_render_targets_follow_upstream_naming() -> None:
    day = Path("data")
    zh, en = day / "2026-05-21_AI_enhanced_Chinese.jsonl", day / "2026-05-21_AI_enhanced_English.jsonl"
    single = day / "2026-05-22_AI_enhanced_Chinese.jsonl"
    paths = [zh, en, single, day / "2026-05-21.jsonl", day / "notes.md"]
    assert render_targets(paths, resolve("zh")) == {
        zh: [zh.with_suffix(".md"), day / "2026-05-21.md"],
        en: [en.with_suffix(".md")],
        single: [single.with_suffix(".md"), day / "2026-05-22.md"],
    }
    assert render_targets([zh, en], None) == {zh: [zh.with_suffix(".md")], en: [en.with_suffix(".md")]}


# --- end to end: the command as a daily pipeline runs it --------------------------------------------------


def worker_process(folder: Path, cache: Path, fake: FakeProvider, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_NAME", "LANGUAGE")}
    env.update(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY=fake.api_key, PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "resummarize", "worker", folder.name, "--once", "--cache", str(cache), *extra]
    return subprocess.Popen(command, cwd=folder.parent, env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_two_workers_never_ask_twice_nor_write_one_file_twice(corpus_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    names = [THREE, SMALL, *(f"{day}_AI_enhanced_Chinese.jsonl" for day in ("2025-04-11", "2025-06-23", "2025-10-13"))]
    files = copy(corpus_dir, data, *names)
    (data / "2025-10-23.md").write_text(rendered(files[0]), encoding="utf-8")
    needed = set().union(*(broken(path) for path in files))
    with FakeProvider(latency=0.1) as fake:
        workers = [worker_process(data, tmp_path / f"cache-{n}.db", fake) for n in (1, 2)]
        logs = [worker.communicate(timeout=60)[1].splitlines() for worker in workers]
        asked = answered(fake)
    assert [worker.returncode for worker in workers] == [0, 0], logs
    assert len(asked) == len(set(asked)) and set(asked) == needed
    assert all(not broken(path) for path in files)
    for name in names:
        verbs = [line.split()[0] for log in logs for line in log if line.split()[1].rstrip(":") == f"data/{name}"]
        assert len(verbs) == 2 and verbs.count("repaired") == 1, (name, logs)
        assert {"clean", "skipped"} & set(verbs), (name, logs)  # the other worker found it done, or busy
    renders = [line for log in logs for line in log if line.startswith("rendered")]
    assert renders == ["rendered data/2025-10-23.md"]


@pytest.mark.slow
def test_sigterm_finishes_requests_in_flight_writes_them_and_exits_0(corpus_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (burst,) = copy(corpus_dir, data, BURST)
    before = broken(burst)
    cache = tmp_path / "cache.db"
    with FakeProvider(latency=0.3) as fake:
        worker = worker_process(data, cache, fake, "--concurrency", "4")
        wait_for(lambda: len(answered(fake)) >= 3)
        at_signal = len(answered(fake))
        worker.send_signal(signal.SIGTERM)
        log = worker.communicate(timeout=30)[1].splitlines()
        asked = answered(fake)
    assert worker.returncode == 0, log
    assert at_signal <= len(asked) <= at_signal + 4 < len(before)  # what was in flight, and nothing after
    with Journal(cache) as journal:
        assert answers_in(journal) == len(asked)
    assert before - broken(burst) == set(asked)  # every answer received is in the file
    done = len(asked)
    assert log == [
        f"stopped data/{BURST}: {done} repaired, 0 failed, {done} requests, 0 restored, 0 from journal, "
        f"{48 - done} left for the next run",
        "stopped by SIGTERM: validated answers are written",
    ]


AI_LABELS = ("TL;DR: ", "Motivation: ", "Method: ", "Result: ", "Conclusion: ")


def test_a_worker_pass_over_upstreams_markdown_changes_only_repaired_lines(
    corpus_dir: Path, tmp_path: Path, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    days = ("2026-05-21", "2026-06-02")
    copy(corpus_dir, data, *(f"{day}{suffix}" for day in days for suffix in ("_AI_enhanced_Chinese.jsonl", ".md")))
    before = {day: (data / f"{day}.md").read_text(encoding="utf-8").splitlines() for day in days}
    monkeypatch.delenv("CATEGORIES", raising=False)  # the digests' own order must win over the default
    code = run_worker(data, RepairOptions(), make_client=client_maker(fake), journal_path=tmp_path / "j.db",
                      prompts=load_prompts(), interval=60, once=True, log=[].append)
    assert code == 0
    repaired = 0
    for day in days:
        after = (data / f"{day}.md").read_text(encoding="utf-8").splitlines()
        assert len(after) == len(before[day])
        changed = [(old, new) for old, new in zip(before[day], after, strict=True) if old != new]
        assert changed and all(old.startswith(AI_LABELS) for old, _ in changed)
        assert all(new.split(": ")[0] == old.split(": ")[0] for old, new in changed)
        repaired += len(changed)
    assert repaired <= 5 * (48 + 1)  # the burst's 48 failed entries and one of the large day


def _watch(data: Path, fake: FakeProvider, journal_path: Path, log: list[str], pipeline: Callable[[], None],
           options: RepairOptions | None = None, interval: float = 0.05) -> int:
    """`worker --interval` in this (main) thread while `pipeline` drives it from another; SIGTERM ends it."""
    handler = signal.getsignal(signal.SIGTERM)

    url = fake.base_url  # kept through an outage, as a user's --base-url is

    def client(url: str) -> openai.AsyncOpenAI:
        return wire.client(fake.api_key, url, 10)

    def drive() -> None:
        try:
            pipeline()
        finally:
            wait_for(lambda: signal.getsignal(signal.SIGTERM) is not handler)
            os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=drive)
    thread.start()
    try:
        return run_worker(data, options or RepairOptions(), make_client=lambda: client(url),
                          journal_path=journal_path, prompts=load_prompts(), interval=interval, once=False,
                          log=log.append, settle=0.0)
    finally:
        thread.join()


def test_an_outage_after_the_first_answer_pauses_the_worker_said_once_and_it_resumes(
    corpus_dir: Path, tmp_path: Path, fake: FakeProvider
) -> None:
    data = tmp_path / "data"
    (three,) = copy(corpus_dir, data, THREE)
    log: list[str] = []
    tries: list[float] = []

    def pipeline() -> None:
        wait_for(lambda: any(line.startswith(f"repaired {three}") for line in log))
        fake.stop()  # the provider goes away: connections are refused
        (small,) = copy(corpus_dir, data, SMALL)  # the next day arrives during the outage
        wait_for(lambda: any(line.startswith("provider unavailable") for line in log))
        time.sleep(1.0)  # several tries, each twice as far apart as the last
        tries.append(time.monotonic())
        fake.start()  # back, on the same port
        wait_for(lambda: any(line.startswith(f"repaired {small}") for line in log))

    code = _watch(data, fake, tmp_path / "j.db", log, pipeline)
    assert code == 0
    away = [line for line in log if line.startswith("provider unavailable")]
    back = [line for line in log if line.startswith("provider answers again")]
    assert len(away) == 1 and "connection refused" in away[0] and "trying again in 0.05 s" in away[0]
    assert "--base-url" not in away[0]  # it did answer: the URL is right
    assert len(back) == 1 and "asking again for 1 file(s)" in back[0]
    assert not [line for line in log if line.startswith(("fatal", "failed", f"stopped {data}"))]
    assert log.index(away[0]) < log.index(back[0]) < len(log) - 1
    assert not broken(three) and not broken(data / SMALL)
    assert log[-1] == "stopped by SIGTERM: validated answers are written"


def test_files_a_failing_provider_left_broken_are_asked_again_when_it_returns(
    corpus_dir: Path, tmp_path: Path, journal: Journal
) -> None:
    data, three, outage, plan = one_victim(corpus_dir, tmp_path, Fault.HTTP_503)
    log: list[str] = []
    with FakeProvider(faults=plan) as fake:
        worker = Worker(data, RepairOptions(attempts=2), make_client=client_maker(fake), journal=journal,
                        prompts=load_prompts(), log=log.append, stop=threading.Event(), interval=0.5, patient=True)
        assert worker.run_pass().exit_code == 1
        assert log[0].startswith(f"repaired {three}: 2 repaired, 1 failed,")
        assert log[1].startswith("provider unavailable (provider kept failing: HTTP 503)")
        assert worker.weather.pause() == 0.5
        worker.run_pass()  # still down: the file is tried again, quietly, and the next wait doubles
        worker.run_pass()
        assert len(log) == 2 and worker.weather.pause() == 2.0
        assert fake.count(CHAT, status=503) == 6  # 3 tries of 2 attempts
        outage.clear()
        assert worker.run_pass().exit_code == 0  # an hour before `retry_failed` would have asked again
        assert log[2] == f"repaired {three}: 1 repaired, 0 failed, 1 requests, 0 restored, 0 from journal"
        assert log[3].startswith("provider answers again after ") and worker.weather.pause() == 0.5
        assert not broken(three)


def test_only_a_configuration_error_ends_a_worker_that_has_been_answered(
    corpus_dir: Path, tmp_path: Path, fake: FakeProvider
) -> None:
    data = tmp_path / "data"
    (three,) = copy(corpus_dir, data, THREE)
    log: list[str] = []

    def pipeline() -> None:
        wait_for(lambda: any(line.startswith(f"repaired {three}") for line in log))
        fake.api_key = "sk-rotated"  # the key was revoked: no pause will fix that
        copy(corpus_dir, data, SMALL)
        wait_for(lambda: any(line.startswith("fatal") for line in log), timeout=10)

    def old_key(key: str = fake.api_key) -> openai.AsyncOpenAI:
        return wire.client(key, fake.base_url, 10)

    handler = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=pipeline)
    thread.start()
    code = run_worker(data, RepairOptions(), make_client=old_key, journal_path=tmp_path / "j.db",
                      prompts=load_prompts(), interval=0.05, once=False, log=log.append, settle=0.0)
    thread.join()
    assert code == 3 and signal.getsignal(signal.SIGTERM) is handler
    assert "key" in log[-1].lower() and not [line for line in log if line.startswith("provider unavailable")]


def test_a_url_that_never_answered_still_ends_the_worker(corpus_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    copy(corpus_dir, data, THREE)
    fake = FakeProvider().start()
    url = fake.base_url
    fake.stop()  # a port nothing listens on

    def nobody() -> openai.AsyncOpenAI:
        return wire.client("sk-test", url, 10)

    log: list[str] = []
    code = run_worker(data, RepairOptions(), make_client=nobody, journal_path=tmp_path / "j.db",
                      prompts=load_prompts(), interval=0.05, once=False, log=log.append, settle=0.0)
    assert code == 3 and "connection refused" in log[-1] and "--base-url" in log[-1]


def test_the_journal_log_is_checkpointed_after_each_pass(corpus_dir: Path, tmp_path: Path, fake: FakeProvider) -> None:
    data = tmp_path / "data"
    copy(corpus_dir, data, THREE)
    log: list[str] = []
    with Journal(tmp_path / "journal.db") as journal:
        worker = make_worker(data, fake, journal, log)
        assert worker.run_pass().exit_code == 0 and len(answered(fake)) == 3
        assert (tmp_path / "journal.db-wal").stat().st_size == 0  # folded into the database
    with Journal(tmp_path / "journal.db") as journal:
        assert answers_in(journal) == 3
