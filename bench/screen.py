"""What a maintainer sees in a terminal: a 600-paper repair's progress bar as tmux shows it, then a Ctrl-C
in the middle of a run and the rerun, counting the papers asked twice.

    python bench/screen.py [--papers 600] [--latency 0.15]

Needs tmux. The provider is the local fake on 127.0.0.1 (no key, no network); the digests are real
upstream days from tests/corpus with every paper's five fields replaced by upstream's failure marker.
Prints the screen, line by line with the time and the answers the fake had sent, and the counts, and
records them in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import record

from resummarize.testing.server import FakeProvider

REPO = Path(__file__).resolve().parents[1]
MARKER = "Summary generation failed"
SAID: list[str] = []


def say(line: str) -> None:
    """Print a line as it happens; all of them go to BENCHMARKS.md at the end."""
    print(line, flush=True)
    SAID.append(line)


def broken_days(folder: Path, papers: int) -> int:
    """Copies of upstream's days, every entry's fields a failure marker, until `papers` entries (a paper
    once only: upstream's 2025-03-20 lists most of its papers three times)."""
    folder.mkdir(parents=True, exist_ok=True)
    made, seen = 0, set()
    for source in sorted((REPO / "tests" / "corpus").glob("*_AI_enhanced_Chinese.jsonl")):
        lines = []
        for line in source.read_text(encoding="utf-8").splitlines():
            if made + len(lines) >= papers:
                break
            entry = json.loads(line)
            if entry["id"] in seen:
                continue
            seen.add(entry["id"])
            entry["AI"] = {key: MARKER for key in entry["AI"]}
            lines.append(json.dumps(entry, ensure_ascii=False))
        (folder / source.name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        made += len(lines)
        if made >= papers:
            break
    return made


def command(folder: Path, journal: Path, report: Path) -> list[str]:
    return [sys.executable, "-m", "resummarize", "repair", str(folder), "--cache", str(journal),
            "--report", str(report)]


def in_tmux(session: str, argv: list[str], env: dict[str, str], done: Path) -> None:
    """Start `argv` in a detached 120x8 tmux window; its exit status lands in `done`."""
    exports = " ".join(f"{name}={shlex.quote(value)}" for name, value in env.items())
    script = f"env {exports} {shlex.join(argv)}; echo $? > {shlex.quote(str(done))}; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "8", script], check=True)


def screen(session: str) -> str:
    shown = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
    lines = [line.rstrip() for line in shown.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def watch(session: str, fake: FakeProvider, done: Path, every: float, until: int | None = None) -> float:
    """Print the window's last line every `every` s until the run ends (or the fake has sent `until`
    answers); the seconds it took."""
    start = time.monotonic()
    while not done.exists() and (until is None or fake.count(status=200) < until):
        say(f"  {time.strftime('%H:%M:%S')}  answers sent {fake.count(status=200):4d}  | {screen(session)}")
        time.sleep(every)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeProvider(latency=args.latency) as fake:
        work = Path(tmp)
        env = {"OPENAI_API_KEY": fake.api_key, "OPENAI_BASE_URL": fake.base_url, "PATH": os.environ["PATH"]}
        papers = broken_days(work / "whole", args.papers)
        say(f"1. a {papers}-paper repair in tmux (fake provider, {args.latency} s an answer)")
        done = work / "whole.done"
        in_tmux("resummarize-whole", command(work / "whole", work / "whole.db", work / "whole.json"), env, done)
        try:
            seconds = watch("resummarize-whole", fake, done, every=2.0)
            while not done.exists():
                time.sleep(0.1)
            say(f"  final screen: {screen('resummarize-whole')}")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", "resummarize-whole"], capture_output=True)
        totals = json.loads((work / "whole.json").read_text())["totals"]
        say(f"  exit {done.read_text().strip()}, {seconds:.1f} s, repaired {totals['repaired']}, "
              f"requests {totals['requests']} (the fake counted {fake.count(status=200)})")

        fake.reset_log()
        broken_days(work / "stopped", args.papers)
        say("2. Ctrl-C once 40 answers were sent, then the rerun")
        done = work / "stopped.done"
        argv = command(work / "stopped", work / "stopped.db", work / "stopped.json")
        in_tmux("resummarize-stopped", argv, env, done)
        try:
            watch("resummarize-stopped", fake, done, every=0.5, until=40)
            subprocess.run(["tmux", "send-keys", "-t", "resummarize-stopped", "C-c"], check=True)
            while not done.exists():
                time.sleep(0.1)
            say(f"  after Ctrl-C: {screen('resummarize-stopped')}")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", "resummarize-stopped"], capture_output=True)
        first = Counter(r.paper_id for r in fake.requests if r.paper_id is not None)
        kept = json.loads((work / "stopped.json").read_text())["totals"]
        fake.reset_log()
        rerun = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
        second = Counter(r.paper_id for r in fake.requests if r.paper_id is not None)
        say(f"  interrupted run: exit {done.read_text().strip()}, {sum(first.values())} requests, "
              f"{kept['repaired']} repaired and kept; rerun: exit {rerun.returncode}, {sum(second.values())} "
              f"requests; papers asked in both runs: {len(set(first) & set(second))}; "
              f"papers asked in all: {len(set(first) | set(second))} of {papers}")
    record("The screen: a 600-paper repair, a Ctrl-C and the rerun",
           f"python bench/screen.py --papers {args.papers} --latency {args.latency}",
           "What tmux showed, every 2 s (every 0.5 s in part 2):\n\n```text\n" + "\n".join(SAID) + "\n```")


if __name__ == "__main__":
    main()
