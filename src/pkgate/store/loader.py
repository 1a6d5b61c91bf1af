"""The loader: spool segments -> DuckDB, in batches, exactly once.

Each batch is inserted and its segment offset advanced in one DuckDB transaction, so a crash at any
point either keeps both or neither; the event id primary key (`ON CONFLICT DO NOTHING`) is the second
guard, for the window between deleting a finished segment and forgetting its offset, and for
redeliveries in fleet mode. Frames that pass their checksum but do not decode go to `rejects`, never
silently away. The connection is opened per cycle so `pkgate report` can read in between.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, NamedTuple

import duckdb
import msgspec
import pyarrow as pa

from pkgate.errors import StoreError
from pkgate.events import Event, decode
from pkgate.events.drain import drain
from pkgate.events.retained import Retained
from pkgate.store.layout import ensure_schema
from pkgate.store.rows import insert_events
from pkgate.store.transaction import transaction

log = logging.getLogger("pkgate.loader")


class Loader:
    """Moves spooled events into the store; `run_once` is one idempotent cycle."""

    def __init__(
        self, db_path: Path, spool_dir: Path, batch: int = 50_000, retained: Retained | None = None
    ) -> None:
        self.db_path = db_path
        self.spool_dir = spool_dir
        self.batch = batch
        self.retained = retained  # where consumed segments go (None: deleted)
        #: Called with the reason when the store is damaged; it moves it aside and rebuilds it
        #: (store.rebuild.local_loader sets it for the supervisor; tools just report the error).
        self.on_damage: Callable[[str], object] | None = None
        self.loaded_total = 0
        #: CPU seconds of the calling thread in `run_once`, for the benchmarks: DuckDB runs in that
        #: thread while loading (`threads = 1`), and other threads of the process do not count.
        self.cpu_s = 0.0

    def connect(self) -> duckdb.DuckDBPyConnection:
        try:
            return connect(self.db_path)
        except StoreDamaged as exc:
            if self.on_damage is None:
                raise
            self.on_damage(exc.reason)
            return connect(self.db_path)

    def run_once(self) -> int:
        """Load everything currently in the spool; return the number of frames consumed."""
        started = time.thread_time()
        try:
            return self._run_once()
        finally:
            self.cpu_s += time.thread_time() - started

    def _run_once(self) -> int:
        con = self.connect()
        try:
            # One thread: the loader shares the machine with the workers answering requests, and
            # DuckDB's parallel insert cost ~10% more CPU per event here (bench/README.md).
            con.execute("SET threads = 1")
            ensure_schema(con)
            progress = {
                k: int(v) for k, v in con.execute('SELECT segment, "offset" FROM spool_progress').fetchall()
            }
            keep = self.retained.keep if self.retained is not None else None
            total = drain(self.spool_dir, progress, _StoreSink(self, con), self.batch, keep)
            checkpoint(con)
            if self.retained is not None:
                self.retained.prune()  # by age, size and free space, also when nothing was loaded
            self.loaded_total += total
            return total
        finally:
            con.close()

    def commit_batch(
        self,
        con: duckdb.DuckDBPyConnection,
        segment: str,
        start: int,
        payloads: list[bytes],
        offsets: list[int],
    ) -> None:
        starts = [start, *offsets[:-1]]
        frames = [Frame(s, e, p) for s, e, p in zip(starts, offsets, payloads, strict=True)]
        commit_frames(con, segment, frames, progress=True)

    @staticmethod
    def reject(con: duckdb.DuckDBPyConnection, segment: str, offset: int, payload: bytes, why: str) -> None:
        reject(con, segment, offset, payload, why)


class Frame(NamedTuple):
    """One spooled event as the loader sees it: where it starts and ends, and its bytes."""

    start: int
    end: int
    payload: bytes


#: "The store refuses this data" (a value out of range, a bad type), as opposed to "the store is
#: broken" (I/O, memory): only these are narrowed down to the refused frame and rejected.
REFUSED: Final = (
    duckdb.DataError,
    duckdb.IntegrityError,
    duckdb.InvalidInputException,
    pa.ArrowException,
    ValueError,
    TypeError,
    OverflowError,
)


def commit_frames(con: duckdb.DuckDBPyConnection, label: str, frames: list[Frame], *, progress: bool) -> None:
    """Store the frames (and with `progress`, advance `label`'s offset) in one transaction.

    When the store refuses the batch, its halves are committed in order, recursively, so the good
    events still load and the refused frame goes to `rejects` with the reason: a poison event
    costs O(log n) transactions once, never a retry loop while the spool grows. In order, because
    each commit advances the offset to its last frame: a crash in between resumes exactly there.
    """
    try:
        _commit_once(con, label, frames, progress)
    except REFUSED as exc:
        if len(frames) > 1:
            mid = len(frames) // 2
            commit_frames(con, label, frames[:mid], progress=progress)
            commit_frames(con, label, frames[mid:], progress=progress)
            return
        frame = frames[0]
        with transaction(con):
            reject(con, label, frame.start, frame.payload, f"refused by the store: {exc}")
            if progress:
                _advance(con, label, frame.end)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic GC while a batch is decoded and inserted: its tens of thousands of fresh, acyclic
    events made the collector walk them over and over (measured: decode 4.4 -> 1.7 us per event,
    insert 15.6 -> 11.3 us). Events form no cycles; the collector runs again right after."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _commit_once(con: duckdb.DuckDBPyConnection, label: str, frames: list[Frame], progress: bool) -> None:
    with _collector_paused():
        _commit_decoded(con, label, frames, progress)


def _commit_decoded(con: duckdb.DuckDBPyConnection, label: str, frames: list[Frame], progress: bool) -> None:
    events: list[Event] = []
    bad: list[tuple[int, bytes, str]] = []
    for f in frames:
        try:
            events.append(decode(f.payload))
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            bad.append((f.start, f.payload, str(exc)))
    try:
        _store_decoded(con, label, frames, events, bad, progress, skip_stored=False)
    except duckdb.ConstraintException:
        # An event already stored (a segment loaded again after a crash, a fleet redelivery): the
        # batch is rolled back and done again with the conflict check, which skips it.
        _store_decoded(con, label, frames, events, bad, progress, skip_stored=True)


def _store_decoded(
    con: duckdb.DuckDBPyConnection,
    label: str,
    frames: list[Frame],
    events: list[Event],
    bad: list[tuple[int, bytes, str]],
    progress: bool,
    skip_stored: bool,
) -> None:
    with transaction(con):
        if events:
            insert_events(con, events, skip_stored=skip_stored)
        for off, payload, err in bad:
            reject(con, label, off, payload, err)
        if progress:
            _advance(con, label, frames[-1].end)


def _advance(con: duckdb.DuckDBPyConnection, segment: str, offset: int) -> None:
    con.execute("INSERT OR REPLACE INTO spool_progress VALUES (?, ?)", [segment, offset])


def reject(con: duckdb.DuckDBPyConnection, label: str, offset: int, payload: bytes, why: str) -> None:
    """Keep a frame the store cannot take where a person can look at it (`rejects`), loudly."""
    log.error("spool segment %s offset %d: rejected frame: %s", label, offset, why)
    con.execute(
        'INSERT INTO rejects (segment, "offset", payload, error) VALUES (?, ?, ?, ?)',
        [label, offset, payload, why],
    )


def connect(
    db_path: Path, read_only: bool = False, wait: float = 10.0, row_group_size: int | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the store, retrying while another process (the loader) holds the write lock.

    `row_group_size` (rows) applies to this connection's appends only: DuckDB keeps the open row
    group of a transaction uncompressed in memory, about 0.9 KB per `events` row. Only a process
    with one connection may ask for it (`ingest`): the store is then attached to a database
    instance of its own, and a second such connection in the same process, or a plain one, fails
    ("Unique file handle conflict"), where plain connections to a path share one instance.
    """
    if read_only and not db_path.exists():
        raise StoreError(f"no store at {db_path}: has the gateway run with this data_dir?")
    os.makedirs(db_path.parent, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        try:
            con = _open(db_path, read_only, row_group_size)
        except duckdb.Error as exc:  # e.g. a damaged file: a clear error, never a traceback
            text = str(exc).lower()
            locked = "could not set lock" in text or "conflicting lock" in text
            if locked and time.monotonic() <= deadline:
                time.sleep(0.05)
                continue
            message = f"cannot open store {db_path}: {exc}; the spool keeps every event not yet loaded"
            if read_only or any(e in str(exc).lower() for e in _ENVIRONMENT):
                raise StoreError(message) from None
            raise StoreDamaged(message, str(exc)) from None
        if not read_only:
            # Checkpoints run only as statements (`checkpoint`), never in the context-free shutdown
            # path that every close used to take: see docs/reliability.md, "kill -9 and DuckDB".
            con.execute("PRAGMA disable_checkpoint_on_shutdown")
        return con


def _open(db_path: Path, read_only: bool, row_group_size: int | None) -> duckdb.DuckDBPyConnection:
    if row_group_size is None:
        return duckdb.connect(str(db_path), read_only=read_only)
    con = duckdb.connect()
    quoted = str(db_path).replace("'", "''")
    try:
        con.execute(
            f"ATTACH '{quoted}' AS store ({'READ_ONLY, ' if read_only else ''}ROW_GROUP_SIZE {int(row_group_size)})"
        )
        con.execute("USE store")
        # Where a file database spills (next to it), not `.tmp` in the working directory.
        con.execute(f"SET temp_directory = '{quoted}.tmp'")
    except BaseException:
        con.close()
        raise
    return con


def checkpoint(con: duckdb.DuckDBPyConnection) -> None:
    """Fold the WAL into the store file, from a client context (indexes bound first)."""
    con.execute("CHECKPOINT")


#: Open failures caused by the environment, not by the file: never a reason to move a store aside.
_ENVIRONMENT: Final = (
    "could not set lock",
    "conflicting lock",
    "permission denied",
    "no space left",
    "too many open files",
    "read-only file system",
    "out of memory",
    "cannot allocate",
)


class StoreDamaged(StoreError):
    """The store file itself cannot be opened (checksum, bad header, WAL replay): rebuild it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class _StoreSink:
    """`drain` sink: a batch and its offset in one DuckDB transaction."""

    def __init__(self, loader: Loader, con: duckdb.DuckDBPyConnection) -> None:
        self.loader = loader
        self.con = con

    def commit(self, segment: str, start: int, payloads: list[bytes], offsets: list[int]) -> None:
        self.loader.commit_batch(self.con, segment, start, payloads, offsets)

    def corrupt(self, segment: str, offset: int, data: bytes, why: str) -> None:
        self.loader.reject(self.con, segment, offset, data, why)

    def forget(self, segment: str) -> None:
        self.con.execute("DELETE FROM spool_progress WHERE segment = ?", [segment])
