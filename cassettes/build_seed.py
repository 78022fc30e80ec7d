"""Re-create `cassettes/seed/cassette.yaml` from the hand-written answers in `seed-answers/`.

No live API was reachable when this fixture was made, so the answers were written by hand from each
paper's abstract. This script serves them from the project's fake OpenAI-compatible server on
127.0.0.1 and records the exchanges with `resummarize repair --record`, so the cassette holds exactly
what the real repair path sends and receives. Run from the repository root:

    python cassettes/build_seed.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from resummarize.testing.server import FakeProvider

HERE = Path(__file__).resolve().parent
SEED = HERE.parent / "seeds" / "2026-01-28-cs.LG.md"


def answers() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for part in sorted((HERE / "seed-answers").glob("*.json")):
        merged.update(json.loads(part.read_text(encoding="utf-8")))
    return merged


def main() -> int:
    target = HERE / "seed" / "cassette.yaml"
    target.unlink(missing_ok=True)
    fake_provider = FakeProvider(answers=answers(), api_key="fixture-key-not-a-secret")
    with fake_provider as fake, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OPENAI_API_KEY": "fixture-key-not-a-secret", "OPENAI_BASE_URL": fake.base_url}
        env.pop("MODEL_NAME", None)
        command = [
            sys.executable, "-m", "resummarize", "repair", str(SEED), "--language", "English",
            "--record", str(target.parent), "--out", str(Path(tmp) / "seed.md"),
            "--cache", str(Path(tmp) / "journal.sqlite3"), "--concurrency", "1",
        ]
        done = subprocess.run(command, env=env, check=False)
        print(f"{fake.count()} requests recorded to {target}", file=sys.stderr)
        return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
