"""The whole data branch, side by side in one run: every figure of the acceptance table, whole-process.

    python bench/branch.py [--days 407] [--sizes 1,2,4] [--latency 2] [--slots 16] [--rpm 120]

A branch of upstream's size and shape is generated (`branch_data.py`: `--days` enhanced files, their raw
crawls with dropped papers, markdown digests); `--sizes` makes 2x and 4x branches (more days) to show
that peak memory stays flat. Every command runs as its own process, timed from start to exit (import
time included; the package's bytecode compiled first, as an install has it); peak memory is the child's
max RSS. Use `--days 40` for a quick look.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from branch_data import generate
from common import REPO, compile_package, record

sys.path.insert(0, str(REPO / "tests"))
from repair import digests

from resummarize.testing.server import FakeProvider

CLI = [sys.executable, "-m", "resummarize"]
BARE = ("import json, sys\n"
        "for name in sys.argv[1:]:\n"
        "    for line in open(name, 'rb').read().splitlines():\n"
        "        if line.strip(): json.loads(line)\n")
#: The same with orjson, the parser the scan uses: how far the scan is from parsing alone.
BARE_ORJSON = BARE.replace("import json", "import orjson as json")
#: Wall-time ratios (dry run vs scan, scan vs bare parse) compare the best of this many runs, interleaved.
ROUNDS = 3


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MiB) and stderr of one process."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert child.stderr is not None
    err = child.stderr.read().decode()
    _, _, usage = os.wait4(child.pid, 0)
    child.returncode = 0
    return time.perf_counter() - start, usage.ru_maxrss / 1024, err


def best_of(rounds: int, *commands: list[str]) -> list[float]:
    """The fastest wall time of each command over `rounds` rounds, run in turn (a shared machine's
    noise falls on all of them alike)."""
    best = [float("inf")] * len(commands)
    for _ in range(rounds):
        for i, command in enumerate(commands):
            best[i] = min(best[i], measure(command)[0])
    return best


def first_progress(folder: Path) -> float:
    """Seconds from process start until the dry run has planned its first file (the bar moves)."""
    code = ("import asyncio, sys, time\nstart = time.perf_counter()\nfrom pathlib import Path\n"
            "from resummarize.config import RepairOptions\nfrom resummarize.engine import repair\n"
            "class Seen(Exception): pass\n"
            "def on_file(_):\n    raise Seen\n"
            "try:\n    asyncio.run(repair([Path(sys.argv[1])], RepairOptions(dry_run=True, restore_missing=True),"
            " journal=Path(sys.argv[2]), on_file=on_file))\nexcept Seen:\n    pass\n"
            "print(time.perf_counter() - start)\n")
    out = subprocess.run([sys.executable, "-c", code, str(folder), str(folder.parent / "none.db")],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip()) + startup()


def startup() -> float:
    """Interpreter start alone, to add to an in-process figure (measured from the first line)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def live(latency: float, slots: int, copies: int, rpm: int | None, tmp: Path) -> tuple[float, int, int, int]:
    """`resummarize repair` of the seed copies against the fake: wall, repaired, requests, 429s."""
    folder = tmp / f"live-{latency}-{rpm}"
    folder.mkdir()
    paths = digests(folder, copies)
    settings = {"rpm": rpm} if rpm else {"max_concurrency": slots}
    with FakeProvider(latency=latency, **settings) as fake:  # type: ignore[arg-type]
        env = {**os.environ, "OPENAI_API_KEY": fake.api_key}
        command = [*CLI, "repair", *map(str, paths), "--language", "English", "--base-url", fake.base_url,
                   "--concurrency", str(slots if not rpm else 8), "--cache", str(folder / "j.db")]
        seconds, _, err = measure(command, env)
        repaired = int(re.search(r"repaired\s+(\d+)", err).group(1))  # type: ignore[union-attr]
        return seconds, repaired, fake.count(), fake.count(status=429)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=407)
    parser.add_argument("--sizes", default="1,2,4")
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--slots", type=int, default=16)
    parser.add_argument("--rpm", type=int, default=120)
    args = parser.parse_args()
    compile_package()
    sizes = [int(n) for n in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        memory = {}
        for size in sizes:
            folder = tmp / f"branch-{size}x" / "data"
            shape = generate(folder, args.days * size)
            dry = [*CLI, "repair", str(folder), "--restore-missing", "--dry-run", "--cache", str(tmp / "none.db")]
            _, peak, err = measure(dry)
            memory[size] = peak
            if size == sizes[0]:
                base, base_shape, dry_err = folder, shape, err
            if size != sizes[0]:
                subprocess.run(["rm", "-rf", str(folder)], check=True)  # keep the disk use bounded
        _, scan_peak, _ = measure([*CLI, "scan", str(base), "--json"])
        dry_seconds, scan_seconds = best_of(ROUNDS, [*CLI, "repair", str(base), "--restore-missing", "--dry-run",
                                                     "--cache", str(tmp / "none.db")],
                                            [*CLI, "scan", str(base), "--json"])
        progress = first_progress(base)
        enhanced = sorted(str(p) for p in base.glob("*_AI_enhanced_*.jsonl"))
        scan_enhanced, bare, bare_orjson = best_of(ROUNDS, [*CLI, "scan", *enhanced, "--json"],
                                                   [sys.executable, "-c", BARE, *enhanced],
                                                   [sys.executable, "-c", BARE_ORJSON, *enhanced])
        start = startup()
        fast = live(args.latency, args.slots, 2, None, tmp)
        limited = live(0.2, args.slots, 2, args.rpm, tmp)
    ideal = fast[1] * args.latency / args.slots
    allowed = 60.0 * ((limited[1] - 1) // args.rpm) + 0.2
    cost = re.findall(r"estimated (?:cost|prompt|completion)[^\n]*", dry_err)
    mem = ", ".join(f"{memory[s]:.0f} MiB ({s}×)" for s in sizes)
    rows += [
        ("`repair --restore-missing --dry-run` of the whole branch: peak memory", mem, "≤ 300 MB, flat"),
        (f"the same: wall time vs a `scan` of the same folder (best of {ROUNDS}, interleaved)",
         f"{dry_seconds:.1f} s vs {scan_seconds:.1f} s = **{dry_seconds / scan_seconds:.2f}×**", "≤ 1.5×"),
        ("progress while the inputs are read", f"first file planned {progress:.1f} s after start",
         "moves from the first file"),
        (f"`scan` of the {len(enhanced)} enhanced files vs a bare `json.loads` of the same lines, whole process "
         f"(best of {ROUNDS}, interleaved)",
         f"{scan_enhanced:.2f} s vs {bare:.2f} s = **{scan_enhanced / bare:.2f}×** "
         f"({scan_enhanced / bare_orjson:.2f}× a bare `orjson.loads`, {bare_orjson:.2f} s)", "≤ 3×"),
        (f"`repair`, {fast[1]} papers, latency {args.latency:g} s, {args.slots} slots (ideal {ideal:.0f} s), "
         "whole process", f"{fast[0]:.1f} s = **{fast[0] / ideal:.3f}× ideal** ({fast[2]} requests)", "≤ 1.15×"),
        (f"`repair` under a {args.rpm}-requests-per-minute sliding window",
         f"{limited[3]} of {limited[2]} requests answered 429 (**{100 * limited[3] / limited[2]:.1f} %**); "
         f"{limited[0]:.1f} s = {limited[0] / allowed:.3f}× the fastest schedule ({allowed:.1f} s)", "≤ 3 %"),
    ]
    body = (f"Branch: {base_shape['enhanced']} enhanced files ({base_shape['entries']:,} entries), "
            f"{base_shape['raw']} raw crawls ({base_shape['dropped']:,} dropped papers), "
            f"{base_shape['markdown']} markdown digests; sizes {args.sizes}× in days. "
            f"Interpreter start alone: {start:.2f} s. Peak memory of the scan: {scan_peak:.0f} MiB.\n\n"
            "| figure | measured | goal |\n|---|---|---|\n"
            + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
            + "\nDry-run estimate: " + "; ".join(line.strip() for line in cost) + "\n")
    command = f"python bench/branch.py --days {args.days} --sizes {args.sizes}"
    record("Whole branch: memory, plan, scan, repair", command, body)


if __name__ == "__main__":
    main()
