"""The SQLite journal: validated answers survive the process, are shared between processes, and are keyed
by everything that changes the question (and by nothing secret)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from engine import answers_in

from resummarize.cli import main
from resummarize.errors import InputError
from resummarize.journal import AnswerKey, Journal, default_path
from resummarize.testing.server import FakeProvider

ANSWER = {
    "tldr": "提出 HaKAN：基于 Hahn-KAN 的时间序列预测。",
    "motivation": "现有方法难以捕捉长程依赖。",
    "method": "用 $\\beta$-加权的 Hahn 多项式替换样条。",
    "result": "在 8 个基准上误差降低 12%。",
    "conclusion": "HaKAN 简单而有效。",
}


def key(**changes: str) -> AnswerKey:
    base = {
        "paper_id": "2601.18800",
        "title": "HaKAN: Hahn Kolmogorov-Arnold Networks",
        "abstract": "We propose HaKAN, a forecaster built on Hahn polynomials.",
        "language": "zh",
        "model": "gpt-4o-mini",
        "prompt_version": "v3",
        "strategy": "regenerate",
    }
    return AnswerKey(**{**base, **changes})


def test_put_then_get_round_trips_the_fields(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        assert journal.get(key()) is None
        journal.put(key(), ANSWER)
        assert journal.get(key()) == ANSWER
        assert answers_in(journal) == 1
        journal.put(key(), {**ANSWER, "tldr": "更新后的摘要。"})
        assert journal.get(key()) == {**ANSWER, "tldr": "更新后的摘要。"}
        assert answers_in(journal) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"prompt_version": "v4"},
        {"model": "gpt-4o"},
        {"language": "en"},
        {"strategy": "translate"},
        {"abstract": "We propose HaKAN, a forecaster built on Hahn polynomials. (v2)"},
        {"title": "HaKAN v2"},
        {"paper_id": "2601.18801"},
    ],
)
def test_anything_that_changes_the_question_misses(tmp_path: Path, change: dict[str, str]) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        journal.put(key(), ANSWER)
        assert journal.get(key(**change)) is None
        assert key(**change).digest() != key().digest()


def test_title_and_abstract_boundary_is_part_of_the_key() -> None:
    """Moving text from the title to the abstract is another question, not the same bytes."""
    assert key(title="A B", abstract="C").digest() != key(title="A", abstract="B C").digest()


def test_wal_mode_is_on(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path):
        pass
    probe = sqlite3.connect(path)
    try:
        assert probe.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        probe.close()


def test_two_connections_on_one_file_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with Journal(path) as first, Journal(path) as second:
        first.put(key(), ANSWER)
        assert second.get(key()) == ANSWER
        second.put(key(paper_id="2601.18802"), {"tldr": "第二个。"})
        assert first.get(key(paper_id="2601.18802")) == {"tldr": "第二个。"}
        second.set_batch("work-1", "batch_abc", "in_progress")
        assert first.batch("work-1") == ("batch_abc", "in_progress")
        assert answers_in(first) == answers_in(second) == 2


def test_answers_persist_after_close(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "cache" / "j.sqlite3"  # parents are created
    journal = Journal(path)
    journal.put(key(), ANSWER)
    journal.set_batch("work-1", "batch_abc", "submitted")
    journal.close()
    with Journal(path) as reopened:
        assert reopened.get(key()) == ANSWER
        assert reopened.batch("work-1") == ("batch_abc", "submitted")


def test_batch_ids_are_remembered_and_updated(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        assert journal.batch("work-1") is None
        journal.set_batch("work-1", "batch_abc", "submitted")
        journal.set_batch("work-2", "batch_def", "submitted")
        journal.set_batch("work-1", "batch_abc", "completed")
        assert journal.batch("work-1") == ("batch_abc", "completed")
        assert journal.batch("work-2") == ("batch_def", "submitted")
        assert answers_in(journal) == 0  # batches are not answers


def test_a_folder_in_the_way_is_an_input_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"a file where a folder should be")
    with pytest.raises(InputError, match="cannot open the journal") as info:
        Journal(blocker / "j.sqlite3")
    assert info.value.path == str(blocker / "j.sqlite3")
    assert isinstance(info.value.__cause__, OSError)


def test_a_directory_as_the_journal_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open the journal") as info:
        Journal(tmp_path)
    assert isinstance(info.value.__cause__, sqlite3.Error)


def test_a_file_that_is_not_a_database_is_an_input_error_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite3"
    data = b"these are my notes, not a database\n" * 200
    path.write_bytes(data)
    with pytest.raises(InputError, match="cannot open the journal"):
        Journal(path)
    assert path.read_bytes() == data


def test_rows_hold_no_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-live-do-not-store-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        journal.put(key(), ANSWER)
        journal.set_batch("work-1", "batch_abc", "submitted")
    probe = sqlite3.connect(path)
    try:
        columns = [row[1] for row in probe.execute("PRAGMA table_info(answers)")]
        assert columns == ["key", "paper_id", "fields", "model", "created"]
        (row,) = probe.execute("SELECT key, paper_id, fields, model FROM answers").fetchall()
        assert row[0] == key().digest()
        assert len(row[0]) == 64
        assert row[1:] == ("2601.18800", json.dumps(ANSWER, ensure_ascii=False), "gpt-4o-mini")
        dump = "\n".join(probe.iterdump())
    finally:
        probe.close()
    assert secret not in dump
    assert set(AnswerKey.model_fields) == {
        "paper_id", "title", "abstract", "language", "model", "prompt_version", "strategy", "answer_keys"
    }
    assert secret.encode() not in path.read_bytes()
    assert not any(secret.encode() in p.read_bytes() for p in tmp_path.iterdir())


def test_default_path_is_a_sqlite_file_in_a_cache_folder() -> None:
    path = default_path()
    assert path.name == "journal.sqlite3"
    assert "resummarize" in path.parts


def test_old_and_new_schema_are_different_questions() -> None:
    tldr = key()
    task = tldr.model_copy(update={"answer_keys": ("task", "motivation", "method", "result", "conclusion")})
    assert tldr.digest() != task.digest()


# --- a damaged journal: one line, the file kept aside, the run goes on without reuse -------------------


def filled(path: Path, answers: int = 300) -> list[AnswerKey]:
    keys = [key(paper_id=f"2601.{n:05d}") for n in range(answers)]
    with Journal(path) as db:
        for one in keys:
            db.put(one, ANSWER)
    return keys


def corrupt_pages(path: Path) -> bytes:
    """Overwrite every page after the schema page with a pattern SQLite cannot read as a b-tree page."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > 4 * page
    data[page:] = b"\x0d\xff\xff\x00" * ((len(data) - page) // 4)
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_malformed_page_moves_the_journal_aside_and_the_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    keys = filled(path)
    damaged = corrupt_pages(path)
    lines: list[str] = []
    with Journal(path, announce=lines.append) as db:
        assert [db.get(one) for one in keys] == [None] * len(keys)  # no reuse, no traceback
        db.put(keys[0], ANSWER)
        assert db.get(keys[0]) == ANSWER
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("j.sqlite3.corrupt-") and p.suffix != ".sqlite3-wal"]
    assert len(lines) == 1 and "malformed" in lines[0] and aside[0].name in lines[0]
    assert aside[0].read_bytes() == damaged  # kept, byte for byte, for whoever wants to look


def test_another_schema_is_moved_aside_at_open(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE answers (key TEXT PRIMARY KEY, payload BLOB)")
        db.execute("INSERT INTO answers VALUES ('k', x'00')")
    db.close()
    lines: list[str] = []
    with Journal(path, announce=lines.append) as journal:
        assert journal.get(key()) is None
        journal.put(key(), ANSWER)
        assert journal.get(key()) == ANSWER
    assert len(lines) == 1 and "another schema" in lines[0] and "fields" in lines[0]
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name] != []


def test_someone_elses_database_is_an_input_error_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    db.close()
    before = path.read_bytes()
    with pytest.raises(InputError, match="not a resummarize journal"):
        Journal(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


@pytest.mark.parametrize("stored", ["not json", "[1, 2]", "42", "null"])
def test_a_row_that_is_not_a_json_object_is_a_miss_replaced_by_the_next_answer(tmp_path: Path, stored: str) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        journal.put(key(), ANSWER)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE answers SET fields = ?", (stored,))
    db.close()
    with Journal(path) as journal:
        assert journal.get(key()) is None
        journal.put(key(), ANSWER)
        assert journal.get(key()) == ANSWER


@pytest.mark.parametrize("damage", ["malformed page", "another schema", "non-JSON row"])
def test_a_damaged_journal_costs_one_line_not_a_traceback(
    damage: str, seed_subset: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    digest = seed_subset(3)
    journal = tmp_path / "j.sqlite3"
    filled(journal)  # other papers' answers: a journal of many pages
    with FakeProvider() as fake:
        monkeypatch.setenv("OPENAI_API_KEY", fake.api_key)
        args = ["repair", str(digest), "--language", "English", "--base-url", fake.base_url, "--cache", str(journal)]
        original = digest.read_bytes()
        assert main(args) == 0
        first = fake.count()
        digest.write_bytes(original)  # the same work again, the journal now holding every answer
        if damage == "malformed page":
            corrupt_pages(journal)
        elif damage == "another schema":
            with sqlite3.connect(journal) as db:
                db.execute("ALTER TABLE answers RENAME COLUMN fields TO payload")
            db.close()
        else:
            with sqlite3.connect(journal) as db:
                db.execute("UPDATE answers SET fields = 'not json {'")
            db.close()
        capsys.readouterr()
        before = fake.count()
        code = main(args)
        err = capsys.readouterr().err
        asked = fake.count() - before
    assert code == 0 and "Traceback" not in err
    assert asked == first > 0  # nothing reusable: every answer asked again, and the digest repaired
    if damage != "non-JSON row":
        assert err.count("moved it to j.sqlite3.corrupt-") == 1
def test_the_write_ahead_log_stays_small_over_a_long_run(tmp_path: Path) -> None:
    """Each answer writes about 8 KiB of pages; a worker journals thousands over weeks. SQLite's default
    let the log sit at 4 MB; it is folded into the database every 64 pages and cut back once folded."""
    path = tmp_path / "j.sqlite3"
    wal = Path(f"{path}-wal")
    fields = {name: "答" * 200 for name in ANSWER}
    largest = 0
    with Journal(path) as journal:
        for number in range(1500):
            journal.put(key(paper_id=f"2601.{number:05d}"), fields)
            largest = max(largest, wal.stat().st_size)
        journal.checkpoint()
        assert wal.stat().st_size == 0
        assert answers_in(journal) == 1500
    assert largest < 600_000
