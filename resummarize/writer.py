"""Atomic file replacement that never loses a write: a reader sees the old file or the new one, never
half of either, and nothing another writer put in the file meanwhile is overwritten.

- A path that is a symlink is written through to its target; the link stays a link.
- The replacement keeps the file's permissions and, where we may set it, its owner and group.
- Temp files are named `.NAME.resummarize-PID-XXXX.tmp` beside the target: a run removes its own on
  any error, and removes those of dead predecessors (a `kill -9` during a write) before writing.
- `commit` checks, right before the rename, that the file is still the one that was read (size and a
  hash of its bytes); if not, it asks the caller to redo its edits on the new content first.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from resummarize.errors import InputError

#: What a temp file's name holds between `.NAME.` and `.tmp`: ours, and whose (the pid) it is.
TEMP_TAG = "resummarize"
#: How many times `commit` redoes its edits when the file keeps changing under it.
COMMIT_TRIES = 5


@dataclass(frozen=True)
class Snapshot:
    """What a file held when it was read: enough to tell, before replacing it, whether it changed."""

    size: int
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Snapshot:
        return cls(len(data), hashlib.sha256(data).hexdigest())

    def matches(self, data: bytes) -> bool:
        return len(data) == self.size and hashlib.sha256(data).hexdigest() == self.sha256


def target_of(path: Path) -> Path:
    """The file a write to `path` must replace: the final target of a symlink (kept a link), else itself."""
    path = Path(path)
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the target's folder, fsync, then rename over the target."""
    commit(path, data, None)


def commit(
    path: Path, data: bytes, read_as: Snapshot | None, rebase: Callable[[bytes], bytes] | None = None
) -> bool:
    """Replace `path` with `data`, unless it no longer holds what `read_as` describes.

    Then `rebase(current_bytes)` gives the bytes to write instead (the same edits, made on what the
    file holds now), and the check is made again. Returns whether the file had changed. A file removed
    meanwhile is not brought back.
    """
    target = target_of(path)
    old = _stat(target)
    mode = old.st_mode & 0o777 if old else _default_mode()
    clean_temps(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{TEMP_TAG}-{os.getpid()}-", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            _fill(handle.fileno(), data)
            os.fchmod(handle.fileno(), mode)
            if old is not None:
                _keep_owner(handle.fileno(), old)
            rebased = read_as is not None and _settle(handle.fileno(), path, target, read_as, rebase)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return rebased


def _settle(fd: int, path: Path, target: Path, read_as: Snapshot, rebase: Callable[[bytes], bytes] | None) -> bool:
    """Make the temp file hold edits made on what the target holds now; True when it had changed."""
    rebased = False
    for _ in range(COMMIT_TRIES):
        current = _current(path, target)
        if read_as.matches(current):
            return rebased
        if rebase is None:
            raise InputError(path, "changed on disk while it was being repaired; not written")
        read_as, rebased = Snapshot.of(current), True
        _fill(fd, rebase(current))
    raise InputError(path, "keeps changing on disk; not written (the answers are in the journal)")


def _current(path: Path, target: Path) -> bytes:
    try:
        return target.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(path, "removed while it was being repaired; not written (the answers are in the "
                               "journal)") from exc


def _fill(fd: int, data: bytes) -> None:
    """Make the open temp file hold exactly `data`, on disk."""
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _keep_owner(fd: int, old: os.stat_result) -> None:
    """Give the replacement the old file's owner and group, as far as we are allowed to (root may set
    both; an owner may set a group it belongs to); a file that cannot keep them keeps the rest."""
    if (old.st_uid, old.st_gid) == (os.geteuid(), os.getegid()):
        return
    for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except OSError:
            continue


def clean_temps(target: Path) -> list[Path]:
    """Remove the temp files a dead run left beside `target` (killed during its write); returns them.

    Only names we make (`.NAME.resummarize-PID-….tmp`) whose process is gone are touched: a live
    writer's temp file is its own business.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.{TEMP_TAG}-(\d+)-[^/]*\.tmp")
    removed: list[Path] = []
    try:
        names = os.listdir(target.parent)
    except OSError:
        return removed
    for name in names:
        match = pattern.fullmatch(name)
        if match and not _alive(int(match[1])):
            stale = target.parent / name
            try:
                stale.unlink()
            except OSError:
                continue
            removed.append(stale)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # our own: perhaps another thread's write in progress
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as exc:
        return exc.errno == errno.EPERM  # someone else's live process
    return True


def check_writable(path: Path, what: str = "cannot write") -> None:
    """Refuse, before any request is paid for, a file we could not replace: its folder (or the nearest
    one that exists, for a file in folders still to be made) must let us create and rename files."""
    target = target_of(Path(path))
    if target.is_dir():
        raise InputError(path, f"{what}: it is a directory")
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(path, f"{what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK, effective_ids=os.access in os.supports_effective_ids):
        raise InputError(path, f"{what}: the folder {folder} is not writable")


def check_targets(files: Iterable[Path], report: Path | None, *, backup: bool = False) -> None:
    """Every file a run would write, checked before its first request (`check_writable`)."""
    for path in sorted(files):
        check_writable(path)
        if backup:
            check_writable(target_of(path).with_name(target_of(path).name + ".bak"), "cannot back up")
    if report is not None:
        check_writable(report, "cannot write the report")


def backup(path: Path) -> Path:
    """Keep the original beside the file (`name.bak`) before it is replaced."""
    source = target_of(path)
    target = source.with_name(source.name + ".bak")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot back up: {exc.strerror or exc}") from exc
    write_atomic(target, data)
    shutil.copymode(source, target)
    return target


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc


def _default_mode() -> int:
    """0o666 less the umask (the umask can only be read by setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
