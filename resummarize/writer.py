"""Atomic file replacement: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from resummarize.errors import InputError


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    # An existing file keeps its mode; a new one gets what `open()` would give it (mkstemp's is 0600).
    mode = path.stat().st_mode & 0o777 if path.exists() else _default_mode()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(path, f"cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def backup(path: Path) -> Path:
    """Keep the original beside the file (`name.bak`) before it is replaced."""
    target = path.with_name(path.name + ".bak")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot back up: {exc.strerror or exc}") from exc
    write_atomic(target, data)
    shutil.copymode(path, target)
    return target


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
