"""Scan cost against the floor: `json.loads` of every line of the same files, in the same run.

    python bench/scan.py [--copies N]

The corpus is multiplied N times into a temporary folder to make a large set. Peak memory is measured
in a child process for 1× and N× the files: a streaming scan holds one file at a time, so it should not
grow with the number of files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, record

CORPUS = REPO / "tests" / "corpus"


def make_set(folder: Path, copies: int) -> list[Path]:
    files = []
    for n in range(copies):
        for source in sorted(CORPUS.glob("*.jsonl")):
            target = folder / f"copy{n:03d}" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            if "_AI_enhanced_" in source.name:
                files.append(target)
    return files


def bare_parse(files: list[Path]) -> float:
    start = time.process_time()
    for path in files:
        for line in path.read_bytes().splitlines():
            if line.strip():
                json.loads(line)
    return time.process_time() - start


def scan(files: list[Path]) -> tuple[float, int]:
    """CPU time of a full scan: on a shared machine, other tenants' load would blur wall time."""
    from resummarize.config import Settings
    from resummarize.plan import scan_paths

    start = time.process_time()
    broken = sum(len(s.needs_repair) for _, s in scan_paths(files, Settings()))
    return time.process_time() - start, broken


def peak_memory(folder: Path) -> int:
    """Max RSS (KiB) of a child process that scans `folder`."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from resummarize.config import Settings\n"
        "from resummarize.plan import scan_paths\n"
        "for _ in scan_paths([Path(sys.argv[1])], Settings()): pass\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "one", Path(tmp) / "many"
        make_set(small, 1)
        files = make_set(large, args.copies)
        scan(files)  # warm up: imports, the language model, the page cache
        bares, scans = [], []
        for _ in range(args.repeat):  # interleaved, so that load on a shared machine hits both alike
            bares.append(bare_parse(files))
            scans.append(scan(files))
        bare = min(bares)
        seconds, broken = min(scans)
        lines = sum(1 for p in files for line in p.read_bytes().splitlines() if line.strip())
        mem_one, mem_many = peak_memory(small), peak_memory(large)
    body = (
        f"| figure | value |\n|---|---|\n"
        f"| files / entries | {len(files)} / {lines:,} |\n"
        f"| entries needing repair found | {broken:,} |\n"
        f"| bare `json.loads` of every line (CPU time, best of {args.repeat}) | {bare:.3f} s |\n"
        f"| `scan` (load + detect + raw-sibling check; CPU time, best of {args.repeat}) | {seconds:.3f} s |\n"
        f"| **scan / bare parse** | **{seconds / bare:.2f}×** |\n"
        f"| scan throughput | {lines / seconds:,.0f} entries/s |\n"
        f"| peak RSS, {len(files) // args.copies} files | {mem_one / 1024:.1f} MiB |\n"
        f"| peak RSS, {len(files)} files | {mem_many / 1024:.1f} MiB |\n"
    )
    record("Scan", f"python bench/scan.py --copies {args.copies}", body)


if __name__ == "__main__":
    main()
