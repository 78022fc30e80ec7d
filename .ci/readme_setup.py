"""Print the README's set-up commands, one per line, then the scan command it promises exits 0.

CI runs exactly what a newcomer reads, so the README cannot drift from what is tested.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def setup_commands(readme: str) -> list[str]:
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.S)


def followup_scan(readme: str) -> str:
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"`(resummarize scan [^`]+)` then finds nothing left to repair \(exit 0\)", section)
    if match is None:
        sys.exit("README: the set-up section no longer names the scan that checks the first command's output")
    return match.group(1)


if __name__ == "__main__":
    text = Path(sys.argv[1]).read_text()
    commands = setup_commands(text)
    if len(commands) != 2 or any("\n" in c for c in commands):
        sys.exit(f"README: expected two one-line set-up commands, found {len(commands)}")
    print(*commands, followup_scan(text), sep="\n")
