"""Helpers shared by the benchmarks: record figures in BENCHMARKS.md under a section of their own."""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "BENCHMARKS.md"


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def compile_package() -> None:
    """Compile the package's bytecode, as `pip install` does: an editable install under
    PYTHONDONTWRITEBYTECODE (set on the machine these figures come from) would otherwise compile every
    module again in every process a benchmark times."""
    import compileall

    compileall.compile_dir(REPO / "resummarize", quiet=1)


def record(section: str, command: str, body: str) -> None:
    """Replace (or add) `## section` in BENCHMARKS.md with the command and the figures."""
    intro = "# Benchmarks\n\nFigures measured side by side in one run; rerun the command to refresh a section.\n"
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else intro
    block = f"## {section}\n\n```sh\n{command}\n```\n\n{body.strip()}\n\nMachine: {machine()}.\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    BENCHMARKS.write_text(text.rstrip() + "\n")
    print(body, file=sys.stdout)
