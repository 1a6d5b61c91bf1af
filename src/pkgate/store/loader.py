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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

import duckdb
import msgspec
import pyarrow as pa
from msgspec.structs import astuple

from pkgate.enrich.ua import PARSER_VERSION, UserAgent, parse_cached
from pkgate.errors import StoreError
from pkgate.events import Event, decode
from pkgate.events.drain import drain
from pkgate.events.retained import Retained
from pkgate.store.schema import EVENT_COLUMNS, ensure_schema
from pkgate.store.sketches import fold_marks
from pkgate.store.transaction import transaction

log = logging.getLogger("pkgate.loader")

_UA_FIELDS = [f for f in UserAgent.__struct_fields__ if f not in ("category", "raw")]
_EVENT_FIELDS = [f for f in Event.__struct_fields__ if f not in ("id", "ts_us")]
_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
}


def _arrow_schema() -> pa.Schema:
    fields = [pa.field("id", pa.string()), pa.field("ts", pa.timestamp("us", tz="UTC"))]
    for name, kind in EVENT_COLUMNS[2:]:
        fields.append(pa.field(name, _ARROW_TYPES[kind.split()[0]]))
    return pa.schema(fields)


_SCHEMA = _arrow_schema()
#: The store's rows as Arrow: what `to_table` makes and `insert_table` takes.
ARROW_SCHEMA: Final = _SCHEMA
_COLUMN_NAMES = [name for name, _ in EVENT_COLUMNS]
#: The parsed User-Agent's columns, in the order `ua_row` gives them.
UA_COLUMNS: Final = ("ua_category", *_UA_FIELDS, "ua_parser")


def ua_row(ua: str) -> tuple[Any, ...]:
    """The parsed columns (`UA_COLUMNS`) of a stored User-Agent."""
    parsed = parse_cached(ua)
    return (parsed.category, *(getattr(parsed, f) for f in _UA_FIELDS), PARSER_VERSION)


def to_table(events: Sequence[Event]) -> pa.Table:
    """Events (+ parsed User-Agent) as one Arrow table in `EVENT_COLUMNS` order.

    Column-wise: one transpose of the event tuples, and each distinct User-Agent of the batch
    parsed and spread once (a batch has few distinct UAs and many events).
    """
    if not events:
        return _SCHEMA.empty_table()
    columns = dict(zip(Event.__struct_fields__, zip(*map(astuple, events), strict=True), strict=True))
    uas = columns["user_agent"]
    by_ua = {ua: ua_row(ua) for ua in set(uas)}
    ua_columns = zip(*(by_ua[ua] for ua in uas), strict=True)
    data: dict[str, Any] = {"id": columns["id"], "ts": columns["ts_us"]}
    data.update((f, columns[f]) for f in _EVENT_FIELDS)
    data.update(zip(UA_COLUMNS, ua_columns, strict=True))
    return pa.Table.from_pydict({name: data[name] for name in _COLUMN_NAMES}, schema=_SCHEMA)


_INSERT = (  # built from constant column names only
    f"INSERT INTO events ({', '.join(_COLUMN_NAMES)}) "  # noqa: S608
    f"SELECT {', '.join('CAST(id AS UUID)' if n == 'id' else n for n in _COLUMN_NAMES)} "
    "FROM pkgate_batch WHERE NOT EXISTS "
    "(SELECT 1 FROM erasures x WHERE x.source_id IN (pkgate_batch.source_id, pkgate_batch.network_id)) "
    "ON CONFLICT DO NOTHING"
)


_INSERT_NEW_ROWS = _INSERT.removesuffix(" ON CONFLICT DO NOTHING")


_EVENT_SCHEMA = pa.schema([_SCHEMA.field(n) for n in _COLUMN_NAMES if n in ("id", "ts", *_EVENT_FIELDS)])
_UA_SCHEMA = pa.schema([_SCHEMA.field(n) for n in ("user_agent", "ua_category", *_UA_FIELDS, "ua_parser")])
_INSERT_JOINED = (  # built from constant column names only; one row per event joined to its parsed UA
    f"INSERT INTO events ({', '.join(_COLUMN_NAMES)}) "  # noqa: S608
    f"SELECT {', '.join('CAST(id AS UUID)' if n == 'id' else n for n in _COLUMN_NAMES)} "
    "FROM pkgate_batch b JOIN pkgate_uas USING (user_agent) WHERE NOT EXISTS "
    "(SELECT 1 FROM erasures x WHERE x.source_id IN (b.source_id, b.network_id)) "
    "ON CONFLICT DO NOTHING"
)
_INSERT_NEW = _INSERT_JOINED.removesuffix(" ON CONFLICT DO NOTHING")


def insert_events(
    con: duckdb.DuckDBPyConnection, events: Sequence[Event], *, skip_stored: bool = True
) -> None:
    """Insert idempotently by event id (duplicates are ignored); fold their HLL marks, which are
    not stored with the events (`pkgate.store.sketches`). With `skip_stored=False` an event already
    stored raises `duckdb.ConstraintException` instead: the conflict check is most of the insert's
    cost (~4 of ~7 µs per event, bench/README.md), and the loader's batches are almost always new.

    The parsed User-Agent columns go in as a table of the batch's distinct agents joined in
    DuckDB, not spread over every row in Python (a batch has few agents and many events).
    """
    if not events:
        return
    columns = dict(zip(Event.__struct_fields__, zip(*map(astuple, events), strict=True), strict=True))
    data: dict[str, Any] = {"id": columns["id"], "ts": columns["ts_us"]}
    data.update((f, columns[f]) for f in _EVENT_FIELDS)
    batch = pa.Table.from_pydict({f.name: data[f.name] for f in _EVENT_SCHEMA}, schema=_EVENT_SCHEMA)
    agents = list(set(columns["user_agent"]))
    parsed = zip(*map(ua_row, agents), strict=True)
    uas = pa.Table.from_pydict(dict(zip(_UA_SCHEMA.names, (agents, *parsed), strict=True)), schema=_UA_SCHEMA)
    con.register("pkgate_batch", batch)
    con.register("pkgate_uas", uas)
    try:
        con.execute(_INSERT_JOINED if skip_stored else _INSERT_NEW)
    finally:  # in a transaction the failed statement aborted, unregistering fails too: not the error
        with contextlib.suppress(duckdb.TransactionException):
            con.unregister("pkgate_batch")
        with contextlib.suppress(duckdb.TransactionException):
            con.unregister("pkgate_uas")
    fold_marks(con, events)


def insert_table(con: duckdb.DuckDBPyConnection, table: pa.Table, *, skip_stored: bool = True) -> int:
    """`insert_events` for rows already made by `to_table` (elsewhere, e.g. in `ingest`'s worker
    processes); the number of rows that were new. `skip_stored=False` as for `insert_events`."""
    con.register("pkgate_batch", table)
    try:
        row = con.execute(_INSERT if skip_stored else _INSERT_NEW_ROWS).fetchone()
    finally:  # in a transaction the failed statement aborted, unregistering fails too: not the error
        with contextlib.suppress(duckdb.TransactionException):
            con.unregister("pkgate_batch")
    return int(row[0]) if row else 0


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


def connect(db_path: Path, read_only: bool = False, wait: float = 10.0) -> duckdb.DuckDBPyConnection:
    """Open the store, retrying while another process (the loader) holds the write lock."""
    if read_only and not db_path.exists():
        raise StoreError(f"no store at {db_path}: has the gateway run with this data_dir?")
    os.makedirs(db_path.parent, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        try:
            con = duckdb.connect(str(db_path), read_only=read_only)
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
