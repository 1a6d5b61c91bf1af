"""Worker rows to the main process through memory-backed files instead of the pool's pipe.

A chunk's rows (`Rows`: its events' table, about a megabyte, and its agents') sent back through
`multiprocessing` are pickled, pushed through a 64 KiB pipe, read and unpickled: about 2.3 µs per
line of the main process, which is the ingest's bottleneck (bench/README.md, ingest). Written by
the worker as Arrow IPC streams into a private directory in shared memory (`/dev/shm`) and
memory-mapped by the main process, the same tables cost it next to nothing, and DuckDB reads them
from the mapping.

The tables hold only what the store holds (no client address: that never leaves the worker), so
where `/dev/shm` is missing the directory falls back to the system's temporary directory. Each
file is unlinked as soon as it is mapped; a directory left behind by a killed ingest is removed by
the next one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Final

import pyarrow as pa

from pkgate.store.rows import Rows

__all__ = ["Handoff"]

_PREFIX: Final = "pkgate-ingest-"
_SHM: Final = Path("/dev/shm")  # noqa: S108 - memory, not disk; private 0700 directory below


def _base() -> Path:
    return _SHM if _SHM.is_dir() and os.access(_SHM, os.W_OK) else Path(tempfile.gettempdir())


def _remove_stale(base: Path) -> None:
    """Directories of ingests whose process is gone (killed before its `close`)."""
    for old in base.glob(f"{_PREFIX}*"):
        pid = old.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(old, ignore_errors=True)


class Handoff:
    """A private directory of tables in flight between the workers and the main process."""

    def __init__(self) -> None:
        base = _base()
        _remove_stale(base)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=base))
        self._count = 0

    def put(self, rows: Rows) -> str:
        """Write `rows` (in a worker): a file of one Arrow stream per table; the name to `take` it by."""
        self._count += 1
        name = f"{os.getpid()}-{self._count}"
        path = self.dir / name
        try:
            with pa.OSFile(str(path), "wb") as sink:
                for table in rows:
                    with pa.ipc.new_stream(sink, table.schema) as out:
                        out.write_table(table)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return name

    def take(self, name: str) -> Rows:
        """The rows `put` under `name` (in the main process), mapped, their file already unlinked."""
        path = self.dir / name
        try:  # the tables' buffers keep the mapping alive after the file is unlinked
            mapped = pa.memory_map(str(path))
            return Rows(*(pa.ipc.open_stream(mapped).read_all() for _ in Rows._fields))
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(self.dir)
