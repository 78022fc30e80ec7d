"""SQLite journal: every validated answer is stored the moment it arrives, so nothing paid for is lost.

A second run over the same digest is served from here with zero requests, and a run killed with
`kill -9` never asks again for an answer it already received. WAL mode lets two processes share it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from platformdirs import user_cache_dir
from pydantic import BaseModel

from resummarize.digest.model import FIELDS
from resummarize.errors import InputError, JournalError

SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    paper_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    model TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    work TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def default_path() -> Path:
    return Path(user_cache_dir("resummarize")) / "journal.sqlite3"


class AnswerKey(BaseModel):
    """Everything that makes two requests ask the same question."""

    paper_id: str
    title: str
    abstract: str
    language: str
    model: str
    prompt_version: str
    strategy: str
    #: The answer's own keys: an old-schema file (`task`) and a new one ask different questions.
    answer_keys: tuple[str, ...] = FIELDS

    def digest(self) -> str:
        source = hashlib.sha256(f"{self.title}\x00{self.abstract}".encode()).hexdigest()
        parts = [self.paper_id, source, self.language, self.model, self.prompt_version, self.strategy,
                 ",".join(self.answer_keys)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


class Journal:
    """A small key-value store of validated answers (and batch ids), durable after every write."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            if db is not None:  # e.g. the file is not a database: do not leak the connection
                db.close()
            raise InputError(self.path, f"cannot open the journal: {exc}") from exc
        self._db = db

    def get(self, key: AnswerKey) -> dict[str, str] | None:
        row = self._db.execute("SELECT fields FROM answers WHERE key = ?", (key.digest(),)).fetchone()
        if row is None:
            return None
        fields: dict[str, str] = json.loads(row[0])
        return fields

    def put(self, key: AnswerKey, fields: Mapping[str, str]) -> None:
        """Store one answer; a full disk (or any failed write) raises `JournalError`, stopping the run."""
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, paper_id, fields, model, created) VALUES (?, ?, ?, ?, ?)",
                (key.digest(), key.paper_id, json.dumps(dict(fields), ensure_ascii=False), key.model, time.time()),
            )
        except sqlite3.Error as exc:
            raise JournalError(self.path, str(exc)) from exc

    def batch(self, work: str) -> tuple[str, str] | None:
        """The batch already created for this piece of work, so a rerun never creates a second one."""
        row = self._db.execute("SELECT batch_id, state FROM batches WHERE work = ?", (work,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def set_batch(self, work: str, batch_id: str, state: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO batches (work, batch_id, state, created) VALUES (?, ?, ?, ?)",
            (work, batch_id, state, time.time()),
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
