"""A pipeline step that keeps a digest open in append mode: `python appending_pipeline.py DIGEST LINES`.

It opens DIGEST for appending and says `open`; then, for each line it reads on stdin, it appends one
half of the lines of the file LINES (a few ms apart, through the same open descriptor) and says
`written`. Whatever replaces DIGEST by a rename meanwhile cuts it off: its next lines land in the old
file. Used by the tests and by bench/other_writers.py.
"""

import sys
import time
from pathlib import Path

lines = Path(sys.argv[2]).read_bytes().splitlines(keepends=True)
with open(sys.argv[1], "ab", buffering=0) as digest:
    print("open", flush=True)
    for part in (lines[: len(lines) // 2], lines[len(lines) // 2 :]):
        sys.stdin.readline()
        for line in part:
            digest.write(line)
            time.sleep(0.005)
        print("written", flush=True)
