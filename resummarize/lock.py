"""The per-file lock every writer of a digest takes: `repair` and the worker alike.

The lock belongs to the file, not to the name it was reached by: it is `flock` on a hidden `.<name>.lock`
file beside the file a path resolves to (through every symlink), so a run through a link and a run on
the file itself share one lock; within a process a file is known by its device and inode. (A file with
several hard links is never written: see `writer.hard_links`.) The kernel drops it when its
holder dies, so a lock left by a killed process is no lock at all: the next run takes it at once (the
stale file is reused, then removed). The lock file is removed while still locked, so a folder is not
littered (nor a `git add .` polluted); a process that opened the old file before the removal sees, once
it holds the lock, that the path no longer names that file, and starts over: two holders never coexist.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import itertools
import os
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path

from resummarize.errors import InputError

#: Times to retry a lock whose file another holder removed while we were taking it.
LOCK_TRIES = 5

#: What `_acquire` gives for a file in a folder we may not write to: it can be read (`--out`), and a
#: write to it is refused before any request (see `writer.check_targets`), so there is nothing to guard.
UNLOCKABLE = -1

#: A file (device and inode, or the resolved path of one not made yet) and the task or thread holding it.
Key = tuple[tuple[int, int, str], int]

#: The files whose lock this task already holds (a worker holds it, then calls `repair`): not taken twice.
#: Tasks a holder starts inherit the variable, so each file is paired with the task (or thread) holding it.
_HELD: ContextVar[frozenset[Key]] = ContextVar("resummarize_held_locks", default=frozenset())


def lock_path(path: Path) -> Path:
    """`.NAME.lock` beside the file `path` resolves to, whatever links lead there."""
    real = Path(os.path.realpath(path))
    return real.with_name(f".{real.name}.lock")


@contextmanager
def file_lock(path: Path) -> Iterator[bool]:
    """Hold the lock of `path` exclusively; yields False at once when another holder has it."""
    fd = _acquire(lock_path(path), block=False)
    if fd is None:
        yield False
        return
    token = _HELD.set(_HELD.get() | {_key(path)})
    try:
        yield True
    finally:
        _HELD.reset(token)
        _release(lock_path(path), fd)


@asynccontextmanager
async def hold(
    paths: Iterable[Path], *, wait: bool = True, on_wait: Callable[[Path], None] | None = None
) -> AsyncIterator[list[Path]]:
    """Lock every file of `paths` (in the order of their devices and inodes, so two runs cannot
    deadlock); yields those held, in the order given.

    A file another process holds is waited for (`on_wait` is told first, so a user knows why nothing
    happens), or, with `wait=False`, left out of what is yielded. Locks this task already holds count
    as held.
    """
    order = {path: place for place, path in enumerate(dict.fromkeys(paths))}
    keys = {path: _key(path) for path in order}  # each a stat: taken once
    held: list[Path] = []
    async with AsyncExitStack() as stack:
        mine = set(_HELD.get())
        for path in sorted(order, key=keys.__getitem__):
            if keys[path] in mine:  # held by this task already, or another name of a file held just now
                held.append(path)
                continue
            lock = lock_path(path)
            fd = _acquire(lock, block=False)
            if fd is None and wait:
                if on_wait is not None:
                    on_wait(path)
                fd = await asyncio.to_thread(_acquire, lock, block=True)
            if fd is None:
                continue
            stack.callback(_release, lock, fd)
            held.append(path)
            mine.add(keys[path])
        token = _HELD.set(frozenset(mine))
        try:
            yield sorted(held, key=order.__getitem__)
        finally:
            _HELD.reset(token)


def _key(path: Path) -> Key:
    """The file (device and inode; the resolved path of one that does not exist yet), and who holds it
    here: the running task, or the thread outside of one."""
    try:
        owner = id(asyncio.current_task())
    except RuntimeError:
        owner = threading.get_ident()
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino, ""), owner
    except OSError:
        return (-1, -1, os.path.realpath(path)), owner


def _acquire(lock: Path, *, block: bool) -> int | None:
    for _ in itertools.count() if block else range(LOCK_TRIES):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                return UNLOCKABLE  # a folder no one may write to: no one replaces the file through it
            raise InputError(lock, f"cannot create the lock file: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EACCES):
                return None
            raise InputError(lock, f"cannot lock: {exc.strerror or exc}") from exc
        try:
            current = os.stat(lock).st_ino
        except FileNotFoundError:
            current = -1
        if current == os.fstat(fd).st_ino:
            return fd
        os.close(fd)  # the holder before us removed it: take the new one
    return None


def _release(lock: Path, fd: int) -> None:
    if fd == UNLOCKABLE:
        return
    try:
        lock.unlink(missing_ok=True)
    finally:
        os.close(fd)
