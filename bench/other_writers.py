"""Other writers of a digest: what a repair keeps of their work, and what it costs, case by case.

    python bench/other_writers.py [--against REV]

Each case runs in a child process on a copy of the corpus file 2026-05-21 (48 entries to repair, 60
papers of its raw crawl dropped) against the fake provider: a pipeline appending through the file it
holds open, a line written into the old file during the rename, another day's digest renamed over the
file mid-run (`--restore-missing`), two runs on one file through a symlink and through a hard link, a
file with the setgid bit and an extended attribute, and a watching worker meeting a file a program still
holds open. With `--against REV` the same cases run on the code of git revision REV, in the same run.
Figures: wall time, request bytes sent to the provider, requests, and what became of the data.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "corpus"
NAME = "2026-05-21_AI_enhanced_Chinese.jsonl"
OTHER_DAY = "2026-05-02_AI_enhanced_Chinese.jsonl"

#: A pipeline step appending to a digest through the descriptor it keeps open (the tests' own).
PIPELINE = str(REPO / "tests" / "appending_pipeline.py")


# --- in the child: one case on the code PYTHONPATH names ---------------------------------------------------


def folder(tmp: Path) -> Path:
    data = tmp / "data"
    data.mkdir()
    shutil.copyfile(CORPUS / NAME, data / NAME)
    shutil.copyfile(CORPUS / "2026-05-21.jsonl", data / "2026-05-21.jsonl")
    return data / NAME


def good_lines(path: Path, count: int) -> bytes:
    """Lines as the pipeline appends them: a good entry of the file under new ids."""
    from resummarize.config import Settings
    from resummarize.plan import scan_file

    _, scan = scan_file(path, Settings())
    broken = {item.id for item in scan.needs_repair}
    good = next(json.loads(line) for line in path.read_bytes().splitlines() if json.loads(line)["id"] not in broken)
    return b"".join(json.dumps({**good, "id": f"2605.{90000 + i}"}).encode() + b"\n" for i in range(count))


async def repair_once(fake: Any, path: Path, journal: Path, **kwargs: Any) -> Any:
    import openai

    from resummarize.config import RepairOptions
    from resummarize.engine import repair
    from resummarize.journal import Journal
    from resummarize.provider.prompts import load_prompts

    hooks = {k: kwargs.pop(k) for k in ("on_plan", "on_lock", "on_result") if k in kwargs}
    with Journal(journal) as db:
        client = openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)
        try:
            return await repair([path], RepairOptions(**kwargs), client=client, journal=db, prompts=load_prompts(),
                                **hooks)
        finally:
            await client.close()


def case_pipeline(tmp: Path, fake: Any) -> str:
    data = folder(tmp)
    lines = tmp / "lines"
    lines.write_bytes(good_lines(data, 60))
    inode = data.stat().st_ino
    pipeline = subprocess.Popen([sys.executable, PIPELINE, str(data), str(lines)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE)
    assert pipeline.stdin is not None and pipeline.stdout is not None
    pipeline.stdout.readline()

    def second_half() -> None:
        assert pipeline.stdin is not None and pipeline.stdout is not None
        pipeline.stdout.readline()
        deadline = time.monotonic() + 3.0
        while data.stat().st_ino == inode and time.monotonic() < deadline:
            time.sleep(0.01)
        pipeline.stdin.write(b"more\n")
        pipeline.stdin.flush()

    helper = threading.Thread(target=second_half)

    def start(result: Any) -> None:
        if not helper.is_alive() and pipeline.stdin is not None and not pipeline.stdin.closed:
            helper.start()
            pipeline.stdin.write(b"go\n")
            pipeline.stdin.flush()

    report = asyncio.run(repair_once(fake, data, tmp / "j.db", on_result=start))
    helper.join()
    pipeline.wait()
    kept = set(data.read_bytes().splitlines(keepends=True))
    lost = sum(1 for line in lines.read_bytes().splitlines(keepends=True) if line not in kept)
    return f"{lost} of 60 appended lines lost; {report.totals.repaired} repaired"


def case_late_line(tmp: Path, fake: Any) -> str:
    data = folder(tmp)
    late = good_lines(data, 1)
    real = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst) == data and not data.read_bytes().endswith(late):
            with data.open("ab") as handle:
                handle.write(late)
        real(src, dst)

    os.replace = replace
    report = asyncio.run(repair_once(fake, data, tmp / "j.db"))
    os.replace = real
    return f"late line {'kept' if late in data.read_bytes() else 'lost'}; {report.totals.repaired} repaired"


def case_swapped(tmp: Path, fake: Any) -> str:
    data = folder(tmp)
    incoming = data.with_name("incoming.jsonl")
    shutil.copyfile(CORPUS / OTHER_DAY, incoming)
    theirs = incoming.read_bytes()
    ours = {json.loads(line)["id"] for line in (CORPUS / "2026-05-21.jsonl").read_bytes().splitlines()}

    def swap(result: Any) -> None:
        if incoming.exists():
            incoming.replace(data)

    report = asyncio.run(repair_once(fake, data, tmp / "j.db", restore_missing=True, on_result=swap))
    if data.read_bytes() == theirs:
        return f"other day's file left byte-identical; {report.totals.failed} answers reported not written"
    mixed = sum(1 for line in data.read_bytes().splitlines() if json.loads(line)["id"] in ours)
    return f"mixed: {mixed} papers of 2026-05-21 written into 2026-05-02's digest"


def case_symlink(tmp: Path, fake: Any) -> str:
    data = folder(tmp)
    link = tmp / "site" / NAME
    link.parent.mkdir()
    link.symlink_to(data)
    second: list[asyncio.Task[Any]] = []

    async def both() -> None:
        def start(run: Any) -> None:
            second.append(asyncio.create_task(repair_once(fake, link, tmp / "j.db")))

        await repair_once(fake, data, tmp / "j.db", on_plan=start)
        await second[0]

    asyncio.run(both())
    return f"{fake.count(path='/v1/chat/completions')} requests for 48 papers"


def case_hard_link(tmp: Path, fake: Any) -> str:
    from resummarize.cli import main

    data = folder(tmp)
    twin = tmp / "twin.jsonl"
    os.link(data, twin)
    os.environ["OPENAI_API_KEY"] = fake.api_key
    codes, said = [], io.StringIO()
    with contextlib.redirect_stderr(said):
        for path in (data, twin):
            try:
                codes.append(main(["repair", str(path), "--base-url", fake.base_url, "--cache", str(tmp / "c")]))
            except SystemExit as exc:
                codes.append(int(exc.code or 0))
    shared = os.stat(data).st_ino == os.stat(twin).st_ino
    refused = "refused: has 2 hard links; " if "has 2 hard links" in said.getvalue() else ""
    return f"{refused}exit codes {codes}; the two names {'still one file' if shared else 'detached'}"


def case_metadata(tmp: Path, fake: Any) -> str:
    import stat

    data = folder(tmp)
    data.chmod(0o2664)
    os.setxattr(data, "user.origin", b"pipeline")
    asyncio.run(repair_once(fake, data, tmp / "j.db"))
    try:
        xattr = os.getxattr(data, "user.origin").decode()
    except OSError:
        xattr = "gone"
    return f"mode {stat.S_IMODE(data.stat().st_mode):04o} (was 2664), user.origin {xattr}"


def case_worker(tmp: Path, fake: Any) -> str:
    import openai

    from resummarize.config import RepairOptions
    from resummarize.journal import Journal
    from resummarize.provider.prompts import load_prompts
    from resummarize.worker import Worker

    data = folder(tmp)
    lines = tmp / "lines"
    lines.write_bytes(good_lines(data, 60))
    writer = subprocess.Popen([sys.executable, PIPELINE, str(data), str(lines)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    assert writer.stdin is not None and writer.stdout is not None
    writer.stdout.readline()
    writer.stdin.write(b"go\n")
    writer.stdin.flush()
    writer.stdout.readline()  # 30 lines written; the file stays open

    def client() -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)

    with Journal(tmp / "j.db") as journal:
        worker = Worker(data.parent, RepairOptions(), make_client=client, journal=journal, prompts=load_prompts(),
                        log=lambda line: None, stop=threading.Event(), settle=0.3)
        time.sleep(0.5)  # quiet for longer than the settle time, though still open
        worker.run_pass()
        writer.stdin.write(b"more\n")
        writer.stdin.flush()
        writer.wait()
        time.sleep(0.5)
        worker.run_pass()
    kept = set(data.read_bytes().splitlines(keepends=True))
    lost = sum(1 for line in lines.read_bytes().splitlines(keepends=True) if line not in kept)
    return f"{lost} of 60 lines lost"


CASES: dict[str, tuple[str, Callable[[Path, Any], str]]] = {
    "pipeline": ("a pipeline appends 60 lines through the file it holds open", case_pipeline),
    "late": ("a line lands in the old file during the rename", case_late_line),
    "swapped": ("another day's digest renamed over it mid-run (`--restore-missing`)", case_swapped),
    "symlink": ("two runs, the second through a symlink", case_symlink),
    "hardlink": ("two runs, through two hard links", case_hard_link),
    "metadata": ("setgid bit and a `user.*` extended attribute", case_metadata),
    "worker": ("watching worker (settle 0.3 s), a file still open and quiet for 0.5 s", case_worker),
}


def child(name: str) -> None:
    from resummarize.testing.server import FakeProvider

    with tempfile.TemporaryDirectory() as tmp, FakeProvider() as fake:
        started = time.monotonic()
        outcome = CASES[name][1](Path(tmp), fake)
        elapsed = time.monotonic() - started
        chat = [r for r in fake.requests if r.path == "/v1/chat/completions"]
        sent = sum(len(json.dumps(r.body).encode()) for r in chat)
    print(json.dumps({"time": elapsed, "bytes": sent, "requests": len(chat), "outcome": outcome}))


# --- in the parent: every case on each tree, one table ------------------------------------------------------


def tree_at(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "resummarize", "prompts"], check=True,
                             capture_output=True).stdout
    into.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_case(name: str, tree: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, __file__, "--case", name], env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        return {"time": 0.0, "bytes": 0, "requests": 0, "outcome": "crashed: " + done.stderr.strip()[-200:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also run every case on the code of this git revision")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        child(args.case)
        return
    from common import record

    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": REPO}
        if args.against:
            trees[args.against] = tree_at(args.against, Path(tmp) / "against")
        rows = ["| case | code | time | request bytes | requests | outcome |", "|---|---|---|---|---|---|"]
        for name, (title, _) in CASES.items():
            for label, tree in trees.items():
                r = run_case(name, tree)
                rows.append(f"| {title} | {label} | {r['time']:.2f} s | {r['bytes']:,} | {r['requests']} | "
                            f"{r['outcome']} |")
    against = f" --against {args.against}" if args.against else ""
    record("Other writers of a digest", f"python bench/other_writers.py{against}", "\n".join(rows))


if __name__ == "__main__":
    main()
