"""Publishing files so that a reader (another process, or the next start after a crash) sees either
the old content or the new, complete one — never an empty or half-written file.

Every layer may import this (it depends on nothing in pkgate). Two ways to publish:
`atomic_write` replaces (rename over the old file); `create_once` never replaces: the first
writer wins (link(2) fails when the name exists) and everyone reads the winner's complete bytes.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Final

#: Prefix of the private temporary files; cleaners may delete old ones (see enrich.sources).
TMP_PREFIX: Final = ".tmp-"


def fsync_dir(directory: Path) -> None:
    """Make a rename or link in `directory` survive a machine crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_tmp(directory: Path, data: bytes, mode: int, fsync: bool) -> Path:
    """`data` in a fresh private file next to its destination (same file system, so rename works)."""
    tmp = directory / f"{TMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow it
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return tmp


def atomic_write(path: Path, data: bytes, *, mode: int = 0o600, fsync: bool = True) -> None:
    """Replace `path` with `data` in one step. `fsync=False` for files that only matter while the
    machine runs (metrics, lag hints): still never torn for a reader, just not crash-durable."""
    tmp = _write_tmp(path.parent, data, mode, fsync)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)


def create_once(path: Path, data: bytes, *, mode: int = 0o600) -> bytes:
    """Create `path` with `data` unless it exists; return what `path` holds afterwards.

    The content is complete and fsynced before the name appears (link(2) of a private file), so a
    concurrent reader never sees it empty; when another process won the race, its bytes are returned.
    """
    tmp = _write_tmp(path.parent, data, mode, fsync=True)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return path.read_bytes()
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    fsync_dir(path.parent)
    return data
