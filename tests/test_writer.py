"""`write_atomic` replaces a file whole or not at all; `backup` keeps the original beside it."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from resummarize.errors import InputError
from resummarize.writer import backup, write_atomic


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[int]:
    """A known umask for the test, restored afterwards."""
    old = os.umask(0o022)
    try:
        yield 0o022
    finally:
        os.umask(old)


def test_replaces_content_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "digest.md"
    target.write_bytes(b"old content that is longer than the new one\n")
    write_atomic(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digest.md"]


def test_keeps_the_mode_of_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "digest.jsonl"
    target.write_bytes(b"{}\n")
    target.chmod(0o640)
    write_atomic(target, b'{"id": "1"}\n')
    assert mode_of(target) == 0o640
    target.chmod(0o604)
    write_atomic(target, b"again\n")
    assert mode_of(target) == 0o604


def test_a_new_file_gets_the_usual_mode_not_mkstemps_0600(tmp_path: Path, umask_022: int) -> None:
    target = tmp_path / "report.json"
    write_atomic(target, b"{}\n")
    assert target.read_bytes() == b"{}\n"
    assert mode_of(target) == 0o666 & ~umask_022 == 0o644
    assert os.umask(umask_022) == umask_022  # reading the umask put it back


def test_target_is_a_directory_is_an_input_error_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"keep")
    with pytest.raises(InputError) as info:
        write_atomic(target, b"data")
    assert info.value.path == str(target)
    assert "cannot write" in str(info.value)
    assert target.is_dir()
    assert (target / "keep.txt").read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.md"]


def test_missing_folder_is_an_input_error(tmp_path: Path) -> None:
    target = tmp_path / "no" / "such" / "folder" / "out.md"
    with pytest.raises(InputError, match="cannot write") as info:
        write_atomic(target, b"data")
    assert isinstance(info.value.__cause__, OSError)
    assert not (tmp_path / "no").exists()


def test_failed_rename_keeps_the_original_and_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a read-only folder does to a non-root user: the final rename is refused."""
    target = tmp_path / "digest.md"
    target.write_bytes(b"original\n")
    target.chmod(0o644)

    def refuse(src: str, dst: str) -> None:
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InputError, match="Permission denied") as info:
        write_atomic(target, b"replacement\n")
    assert isinstance(info.value.__cause__, PermissionError)
    assert target.read_bytes() == b"original\n"
    assert mode_of(target) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digest.md"]


def test_an_unexpected_exception_also_removes_the_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "digest.md"
    target.write_bytes(b"original\n")

    def interrupted(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"replacement\n")
    assert target.read_bytes() == b"original\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digest.md"]


def test_backup_writes_a_bak_copy_with_the_same_mode(tmp_path: Path) -> None:
    target = tmp_path / "2026-01-28.md"
    target.write_bytes(b"original \xe2\x9c\x93\r\n")
    target.chmod(0o640)
    saved = backup(target)
    assert saved == tmp_path / "2026-01-28.md.bak"
    assert saved.read_bytes() == b"original \xe2\x9c\x93\r\n"
    assert mode_of(saved) == 0o640
    assert target.read_bytes() == b"original \xe2\x9c\x93\r\n"


def test_backup_replaces_an_older_backup(tmp_path: Path) -> None:
    target = tmp_path / "d.jsonl"
    (tmp_path / "d.jsonl.bak").write_bytes(b"stale backup")
    target.write_bytes(b"current\n")
    backup(target)
    assert (tmp_path / "d.jsonl.bak").read_bytes() == b"current\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.jsonl", "d.jsonl.bak"]


def test_backup_of_a_missing_file_is_an_input_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot back up") as info:
        backup(tmp_path / "gone.md")
    assert info.value.path == str(tmp_path / "gone.md")
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert list(tmp_path.iterdir()) == []


def test_a_replacement_keeps_setgid_xattrs_and_the_mode_of_a_file_it_may_not_read(
    open_tmp: Path, unprivileged: Callable[[], AbstractContextManager[None]]
) -> None:
    unreadable = open_tmp / "write-only.md"
    unreadable.write_bytes(b"old\n")
    unreadable.chmod(0o220)  # its owner may write it but not read it (the block drops root's overrides)
    with unprivileged():
        write_atomic(unreadable, b"new\n")
    assert mode_of(unreadable) == 0o220
    tagged = open_tmp / "tagged.md"
    tagged.write_bytes(b"old\n")
    tagged.chmod(0o2644)
    os.setxattr(tagged, "user.origin", b"pipeline")
    write_atomic(tagged, b"new\n")
    assert mode_of(tagged) == 0o2644 and os.getxattr(tagged, "user.origin") == b"pipeline"
