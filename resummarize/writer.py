"""Atomic file replacement, the leaf of the write path (see `rewrite`): a reader sees the old file or the
new one, never half of either, and the new one is the same file to its readers but for its bytes.

- A path that is a symlink is written through to its target; the link stays a link.
- The replacement keeps the file's mode bits (setgid included), extended attributes and, where we may set
  them, its owner and group. A file with several hard links is refused rather than silently detached.
- Temp files are named `.NAME.resummarize-PID-XXXX.tmp` beside the target: a run removes its own on
  any error, and removes those of dead predecessors (a `kill -9` during a write) before writing.
- `replace` checks, right before the rename, that the file is still the one expected (size and a hash
  of its bytes, and the same inode); after it, it reads what the old file gained meanwhile, so that the
  caller can carry over what another writer put there. `open_writers` names the programs that hold a
  file open for writing (which a rename would cut off).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from resummarize.errors import InputError

#: What a temp file's name holds between `.NAME.` and `.tmp`: ours, and whose (the pid) it is.
TEMP_TAG = "resummarize"


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
    replace(path, data, None)


@dataclass(frozen=True)
class Landing:
    """What `replace` found. Not `replaced`: the file no longer held what was expected; `current` is
    what it holds. `replaced`: `current` is what the old file held once the new one was in place, and
    `late` counts the bytes another writer put into it after the check (stranded there by the rename,
    unless the caller carries them over); 0 when it is exactly what was checked."""

    replaced: bool
    current: bytes
    late: int = 0


def replace(path: Path, data: bytes, expect: Snapshot | None) -> Landing:
    """Replace `path` with `data`, unless it no longer holds what `expect` describes (None: whatever it
    holds, or a new file). The new file keeps the old one's mode (setgid and sticky bits too), owner and
    group as far as we may set them, and extended attributes (ACLs among them). A file with several hard
    links is refused: the rename would leave the other names on the old content. A file removed
    meanwhile is not brought back."""
    target = target_of(path)
    old_fd = _open_old(path, target, required=expect is not None)
    try:
        old = os.fstat(old_fd) if old_fd is not None else _stat(target)  # one we may not read: its stat
        if old is not None and stat.S_ISDIR(old.st_mode):
            raise InputError(path, "cannot write: it is a directory")
        if old is not None and old.st_nlink > 1:
            raise InputError(path, hard_links(old.st_nlink))
        checked = b""
        if expect is not None and old_fd is not None:
            checked = _read_all(old_fd)
            if not expect.matches(checked):
                return Landing(False, checked)
        if not _swap_in(path, target, data, old, old_fd):
            return Landing(False, _read(path, target))  # another file was renamed over it since the check
        if old_fd is None or expect is None:
            return Landing(True, data)
        after = _read_all(old_fd)
        return Landing(True, after, 0 if after == checked else max(len(after) - len(checked), 1))
    finally:
        if old_fd is not None:
            os.close(old_fd)


def _swap_in(path: Path, target: Path, data: bytes, old: os.stat_result | None, old_fd: int | None) -> bool:
    """Write `data` to a temp file beside `target` with the old file's metadata and rename it over the
    target, if the target is still the old file; False (nothing written) when it is not."""
    clean_temps(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{TEMP_TAG}-{os.getpid()}-", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            _fill(handle.fileno(), data)
            _keep_metadata(handle.fileno(), old, old_fd)
        if old is not None and _identity(target) != (old.st_dev, old.st_ino):
            Path(tmp).unlink(missing_ok=True)
            return False
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def hard_links(count: int) -> str:
    """Why a file with several names is not rewritten, and what to do instead."""
    return (f"has {count} hard links: replacing it would leave the other {count - 1} with the old content; "
            "give it a copy of its own first (cp FILE FILE.new && mv FILE.new FILE), or use --out")


def _open_old(path: Path, target: Path, *, required: bool) -> int | None:
    try:
        return os.open(target, os.O_RDONLY)
    except FileNotFoundError as exc:
        if required:
            raise InputError(path, "removed while it was being repaired; not written (the answers are in the "
                                   "journal)") from exc
        return None
    except OSError as exc:
        if not required and exc.errno in (errno.EACCES, errno.EPERM):
            return None  # a file we may replace but not read: it keeps what its stat says
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc


def _identity(target: Path) -> tuple[int, int] | None:
    try:
        st = target.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _read(path: Path, target: Path) -> bytes:
    try:
        return target.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(path, "removed while it was being repaired; not written (the answers are in the "
                               "journal)") from exc


def _read_all(fd: int) -> bytes:
    """Everything the open file holds now, from its start."""
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _fill(fd: int, data: bytes) -> None:
    """Make the open temp file hold exactly `data`, on disk."""
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.fsync(fd)


def _keep_metadata(fd: int, old: os.stat_result | None, old_fd: int | None) -> None:
    """The old file's extended attributes, owner and group, then mode bits (in that order: a change of
    owner clears the setuid and setgid bits); a new file gets the usual mode, not mkstemp's 0600."""
    if old is None:
        os.fchmod(fd, _default_mode())
        return
    if old_fd is not None:
        _keep_xattrs(old_fd, fd)
    _keep_owner(fd, old)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _keep_xattrs(source: int, fd: int) -> None:
    """Copy every extended attribute we may set (`user.*`, ACLs; `security.*` and `trusted.*` need
    privileges we may lack, and a file system may have none)."""
    if not hasattr(os, "listxattr"):
        return
    try:
        names = os.listxattr(source)
    except OSError:
        return
    for name in names:
        try:
            os.setxattr(fd, name, os.getxattr(source, name))
        except OSError:
            continue


def _keep_owner(fd: int, old: os.stat_result) -> None:
    """Give the replacement the old file's owner and group, as far as we are allowed to (root may set
    both; an owner may set a group it belongs to); a file that cannot keep them keeps the rest."""
    now = os.fstat(fd)
    if (old.st_uid, old.st_gid) == (now.st_uid, now.st_gid):
        return
    for uid, gid in ((old.st_uid, old.st_gid), (-1, old.st_gid)):
        try:
            os.fchown(fd, uid, gid)
            return
        except OSError:
            continue


def open_writers(paths: Iterable[Path]) -> dict[Path, str]:
    """Which of `paths` another process holds open for writing, and which process (`pid N (name)`), as
    far as this system lets us see: Linux's /proc shows our own user's processes (all of them to root);
    elsewhere, none. One look at every open file serves all of `paths`; a descriptor is told by the path
    it names (a few ms for a thousand), and only a match has its flags read."""
    wanted = {os.path.realpath(path): Path(path) for path in paths}
    found: dict[Path, str] = {}
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()] if wanted else []
    except OSError:
        return found
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or another user's
        for fd in fds:
            try:
                path = wanted.get(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                continue
            if path is not None and path not in found and _writing(pid, fd):
                found[path] = f"pid {pid} ({_program(pid)})"
    return found


def _writing(pid: str, fd: str) -> bool:
    """Whether that descriptor was opened for writing (the `flags` line of its fdinfo, in octal)."""
    try:
        info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
    except OSError:
        return False
    match = re.search(r"^flags:\s*([0-7]+)", info, re.MULTILINE)
    return match is not None and (int(match[1], 8) & os.O_ACCMODE) != os.O_RDONLY


def _program(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


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
    with suppress(OSError):
        if (links := target.stat().st_nlink) > 1:
            raise InputError(path, hard_links(links))
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
