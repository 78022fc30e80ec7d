"""Scan cost against the floor: `json.loads` of every line of the same files, in the same run.

    python bench/scan.py [--copies N] [--against REV]

The corpus is multiplied N times into a temporary folder to make a large set. Peak memory is measured
in a child process for 1× and N× the files: a streaming scan holds one file at a time, so it should not
grow with the number of files. The cost of the `mismatched` check is shown by scans without it and,
with `--against REV`, with `resummarize/grounding.py` as it was at the git revision REV, all in one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import types
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


def scan(files: list[Path], grounding: object = None) -> tuple[float, int]:
    """CPU time of a full scan: on a shared machine, other tenants' load would blur wall time.
    `grounding` stands in for the module that finds mismatched summaries (None: the current one)."""
    from resummarize import plan
    from resummarize.config import Settings

    current = plan.grounding
    plan.grounding = grounding or current  # type: ignore[assignment]
    try:
        start = time.process_time()
        broken = sum(len(s.needs_repair) for _, s in plan.scan_paths(files, Settings()))
        return time.process_time() - start, broken
    finally:
        plan.grounding = current


def grounding_at(revision: str) -> types.ModuleType:
    """`resummarize/grounding.py` as it was at a git revision, loaded as a module of its own."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:resummarize/grounding.py"],
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"grounding_at_{revision}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"grounding.py@{revision}", "exec"), module.__dict__)
    return module


#: Stands in for the grounding module when the scan runs without the `mismatched` check.
WITHOUT = types.SimpleNamespace(shifted=lambda texts, sources: [])


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
    parser.add_argument("--against", metavar="REV", help="also scan with grounding.py of this git revision")
    args = parser.parse_args()
    variants: dict[str, object] = {"this tree": None, "without `mismatched`": WITHOUT}
    if args.against:
        variants[f"grounding.py of {args.against}"] = grounding_at(args.against)
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp) / "one", Path(tmp) / "many"
        make_set(small, 1)
        files = make_set(large, args.copies)
        scan(files)  # warm up: imports, the language model, the page cache
        bares: list[float] = []
        scans: dict[str, list[tuple[float, int]]] = {name: [] for name in variants}
        for _ in range(args.repeat):  # interleaved, so that load on a shared machine hits all alike
            bares.append(bare_parse(files))
            for name, module in variants.items():
                scans[name].append(scan(files, module))
        bare = min(bares)
        seconds, broken = min(scans["this tree"])
        lines = sum(1 for p in files for line in p.read_bytes().splitlines() if line.strip())
        mem_one, mem_many = peak_memory(small), peak_memory(large)
    others = "".join(
        f"| `scan`, {name} (CPU time, best of {args.repeat}) | {min(runs)[0]:.3f} s ({min(runs)[0] / bare:.2f}×; "
        f"{min(runs)[1]:,} found) |\n"
        for name, runs in scans.items() if name != "this tree")
    body = (
        f"| figure | value |\n|---|---|\n"
        f"| files / entries | {len(files)} / {lines:,} |\n"
        f"| entries needing repair found | {broken:,} |\n"
        f"| bare `json.loads` of every line (CPU time, best of {args.repeat}) | {bare:.3f} s |\n"
        f"| `scan` (load + detect + raw-sibling check; CPU time, best of {args.repeat}) | {seconds:.3f} s |\n"
        f"| **scan / bare parse** | **{seconds / bare:.2f}×** |\n"
        f"{others}"
        f"| scan throughput | {lines / seconds:,.0f} entries/s |\n"
        f"| peak RSS, {len(files) // args.copies} files | {mem_one / 1024:.1f} MiB |\n"
        f"| peak RSS, {len(files)} files | {mem_many / 1024:.1f} MiB |\n"
    )
    without = min(scans["without `mismatched`"])[0]
    body += (f"\nThe `mismatched` check (`grounding.shifted`) costs {seconds - without:.3f} s of the scan "
             f"({(seconds - without) / bare:.2f}× a bare parse): every summary's Latin-script terms are "
             "looked for in its own abstract; only the few with at most half of them there are weighed "
             "against the whole digest.\n")
    if args.against:
        before = min(scans[f"grounding.py of {args.against}"])[0]
        cost = before - without
        body += f"With grounding.py of {args.against} it cost {cost:.3f} s ({cost / bare:.2f}×).\n"
    against = f" --against {args.against}" if args.against else ""
    record("Scan", f"python bench/scan.py --copies {args.copies}{against}", body)


if __name__ == "__main__":
    main()
