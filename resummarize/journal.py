"""SQLite journal: every validated answer is stored the moment it arrives, so nothing paid for is lost.

A second run over the same digest is served from here with zero requests, and a run killed with
`kill -9` never asks again for an answer it already received. WAL mode lets two processes share it.

A journal is a cache of answers, so a damaged one never stops a run: a database with a malformed page or
with another version's tables is moved aside (`NAME.corrupt-TIMESTAMP`, named in one line on stderr, kept
for whoever wants to look) and the run goes on with a fresh one, asking again what it cannot reuse; a row
that is not a JSON object is a miss, replaced by the next answer. A file that is not SQLite at all, or a
database without our tables, is not a journal: that is an input error, and the file is left alone.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

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
CREATE TABLE IF NOT EXISTS modes (
    endpoint TEXT NOT NULL,
    model TEXT NOT NULL,
    mode TEXT NOT NULL,
    cap_name TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (endpoint, model)
);
CREATE TABLE IF NOT EXISTS batches (
    work TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL
);
"""


#: The first bytes of every SQLite database file.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_T = TypeVar("_T")
#: Pages (4 KiB) the write-ahead log may hold before SQLite folds it into the database; its default of
#: 1000 lets a long-running worker's WAL sit at 4 MB (one answer writes about 8 KiB of pages).
CHECKPOINT_PAGES = 64
#: Bytes a checkpointed WAL is cut back to: without a limit the file keeps its largest size for good.
WAL_LIMIT = 1 << 20


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
    """A small key-value store of validated answers (and batch ids), durable after every write.

    `announce` hears the one line that says a damaged journal was moved aside (stderr by default)."""

    def __init__(self, path: Path | str, *, announce: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.announce = announce or _to_stderr
        try:
            self._db = self._open()
        except _Damaged as damage:
            self._set_aside(damage.reason)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            _check_schema(db, self.path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            db.executescript(SCHEMA)
            return db
        except (OSError, sqlite3.Error, _Damaged, InputError) as exc:
            if db is not None:  # e.g. the file is not a database: do not leak the connection
                db.close()
            if isinstance(exc, _Damaged | InputError):
                raise
            if isinstance(exc, sqlite3.DatabaseError) and _is_damage(exc) and _is_sqlite(self.path):
                raise _Damaged(str(exc)) from exc
            raise InputError(self.path, f"cannot open the journal: {exc}") from exc

    def _set_aside(self, reason: str) -> None:
        """Move the damaged database (and its WAL files) to `NAME.corrupt-TIMESTAMP`, and say so."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = self.path.with_name(self.path.name + suffix)
                if part.exists():
                    part.replace(aside.with_name(aside.name + suffix))
        except OSError as exc:
            raise InputError(self.path, f"the journal is damaged ({reason}) and cannot be moved aside: "
                                        f"{exc.strerror or exc}") from exc
        self.announce(f"resummarize: warning: {self.path}: the journal is damaged ({reason}); moved it to "
                      f"{aside.name} and started a new one: answers it held are asked again")

    def _guarded(self, operation: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run `operation`; a page found malformed only now sets the journal aside and runs it again."""
        try:
            return operation(self._db)
        except sqlite3.DatabaseError as exc:
            if not _is_damage(exc) or str(self.path) == ":memory:":
                raise
            self._db.close()
            self._set_aside(str(exc))
            self._db = self._open()
            return operation(self._db)

    def get(self, key: AnswerKey) -> dict[str, str] | None:
        """The stored fields, or None: never stored, or stored as something other than a JSON object
        (a miss: the next answer replaces it)."""
        row = self._guarded(
            lambda db: db.execute("SELECT fields FROM answers WHERE key = ?", (key.digest(),)).fetchone())
        if row is None:
            return None
        try:
            fields = json.loads(row[0])
        except (TypeError, ValueError):
            return None
        return fields if isinstance(fields, dict) else None

    def put(self, key: AnswerKey, fields: Mapping[str, str]) -> None:
        """Store one answer; a full disk (or any failed write) raises `JournalError`, stopping the run."""
        row = (key.digest(), key.paper_id, json.dumps(dict(fields), ensure_ascii=False), key.model, time.time())
        try:
            self._guarded(lambda db: db.execute(
                "INSERT OR REPLACE INTO answers (key, paper_id, fields, model, created) VALUES (?, ?, ?, ?, ?)", row))
        except sqlite3.Error as exc:
            raise JournalError(self.path, str(exc)) from exc

    def mode(self, endpoint: str, model: str) -> tuple[str, str] | None:
        """The structured-output mode and output-cap name that last worked for this endpoint and model."""
        row = self._guarded(lambda db: db.execute(
            "SELECT mode, cap_name FROM modes WHERE endpoint = ? AND model = ?", (endpoint, model)).fetchone())
        return (str(row[0]), str(row[1])) if row else None

    def set_mode(self, endpoint: str, model: str, mode: str, cap_name: str) -> None:
        """Remember what worked, so that the next run starts there (the endpoint carries no credentials)."""
        row = (endpoint, model, mode, cap_name, time.time())
        try:
            self._guarded(lambda db: db.execute(
                "INSERT OR REPLACE INTO modes (endpoint, model, mode, cap_name, created) VALUES (?, ?, ?, ?, ?)", row))
        except sqlite3.Error as exc:
            raise JournalError(self.path, str(exc)) from exc

    def batch(self, work: str) -> tuple[str, str] | None:
        """The batch already created for this piece of work, so a rerun never creates a second one."""
        row = self._guarded(
            lambda db: db.execute("SELECT batch_id, state FROM batches WHERE work = ?", (work,)).fetchone())
        return (str(row[0]), str(row[1])) if row else None

    def set_batch(self, work: str, batch_id: str, state: str) -> None:
        row = (work, batch_id, state, time.time())
        self._guarded(lambda db: db.execute(
            "INSERT OR REPLACE INTO batches (work, batch_id, state, created) VALUES (?, ?, ?, ?)", row))

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database and truncate it (a worker does it after each pass).

        Best effort: while another process reads, SQLite checkpoints what it can and leaves the rest for
        the next time, and nothing is lost either way (the log is as durable as the database).
        """
        with suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Damaged(Exception):
    """A journal database that cannot serve: malformed, or laid out by another version."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """A malformed database (SQLITE_CORRUPT, or SQLITE_NOTADB for a damaged header), as opposed to a busy
    or read-only one."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in str(exc)


def _columns(db: sqlite3.Connection) -> dict[str, set[str]]:
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {table: {row[1] for row in db.execute(f'PRAGMA table_info("{table}")')} for table in tables}


def _tables_of(schema: str) -> dict[str, set[str]]:
    """The tables and columns `schema` makes, read by SQLite itself from an empty database."""
    db = sqlite3.connect(":memory:")
    try:
        db.executescript(schema)
        return _columns(db)
    finally:
        db.close()


#: Our tables and their columns.
_EXPECTED = _tables_of(SCHEMA)


def _check_schema(db: sqlite3.Connection, path: Path) -> None:
    """Raise `_Damaged` for one of our tables laid out otherwise (another version's journal), and
    `InputError` for a database that holds none of our tables but others (someone else's database)."""
    found = _columns(db)
    expected = _EXPECTED
    ours = [table for table in expected if table in found]
    if found and not ours:
        raise InputError(path, f"not a resummarize journal (its tables: {', '.join(sorted(found))}); "
                               "point --cache at another file")
    for table in ours:
        missing = expected[table] - found[table]
        if missing:
            raise _Damaged(f"its {table} table has no {', '.join(sorted(missing))} column: another schema")
