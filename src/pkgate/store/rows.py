"""Events as the store's rows: the Arrow table of `events` and the inserts that take it.

Shared by the loader (spooled gateway events) and `ingest` (rows built column-wise in its worker
processes), so that both write exactly the same columns the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Final

import duckdb
import pyarrow as pa
from msgspec.structs import astuple

from pkgate.enrich.ua import PARSER_VERSION, UserAgent, parse_cached
from pkgate.events import Event
from pkgate.store.schema import EVENT_COLUMNS
from pkgate.store.sketches import fold_marks

__all__ = ["ARROW_SCHEMA", "UA_COLUMNS", "insert_events", "insert_table", "to_table", "ua_row"]

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


_UNERASED: Final = (
    " WHERE NOT EXISTS (SELECT 1 FROM erasures x WHERE x.source_id IN (b.source_id, b.network_id))"
)


def _insert_sql(source: str, *, unerased: bool, skip_stored: bool) -> str:
    """The insert of `events` from `source` (aliased `b`), built from constant column names only.

    `unerased` drops the rows of erased sources; `skip_stored` ignores rows already stored.
    """
    sql = (
        f"INSERT INTO events ({', '.join(_COLUMN_NAMES)}) "  # noqa: S608
        f"SELECT {', '.join('CAST(id AS UUID)' if n == 'id' else n for n in _COLUMN_NAMES)} FROM {source}"
    )
    return sql + (_UNERASED if unerased else "") + (" ON CONFLICT DO NOTHING" if skip_stored else "")


#: (unerased, skip_stored) -> the insert of a table of whole rows / of events joined to their agents.
_INSERT: Final = {
    (u, s): _insert_sql("pkgate_batch b", unerased=u, skip_stored=s)
    for u in (True, False)
    for s in (True, False)
}
_INSERT_JOINED: Final = {
    (u, s): _insert_sql("pkgate_batch b JOIN pkgate_uas USING (user_agent)", unerased=u, skip_stored=s)
    for u in (True, False)
    for s in (True, False)
}


def _any_erased(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any source was ever erased. Usually none: the check of every row against
    `erasures` is then left out, a quarter of an ingest's insert (bench/README.md, ingest). Asked
    in the insert's own transaction, and the store has one writer, so the answer holds for it."""
    row = con.execute("SELECT EXISTS (SELECT 1 FROM erasures)").fetchone()
    return bool(row and row[0])


_EVENT_SCHEMA = pa.schema([_SCHEMA.field(n) for n in _COLUMN_NAMES if n in ("id", "ts", *_EVENT_FIELDS)])
_UA_SCHEMA = pa.schema([_SCHEMA.field(n) for n in ("user_agent", "ua_category", *_UA_FIELDS, "ua_parser")])


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
        con.execute(_INSERT_JOINED[_any_erased(con), skip_stored])
    finally:  # in a transaction the failed statement aborted, unregistering fails too: not the error
        with contextlib.suppress(duckdb.TransactionException):
            con.unregister("pkgate_batch")
        with contextlib.suppress(duckdb.TransactionException):
            con.unregister("pkgate_uas")
    fold_marks(con, events)


def insert_table(con: duckdb.DuckDBPyConnection, table: pa.Table, *, skip_stored: bool = True) -> int:
    """`insert_events` for rows already made by `to_table` (elsewhere, e.g. in `ingest`'s worker
    processes); the number of rows that were new. `skip_stored=False` as for `insert_events`.

    The table is found by DuckDB's replacement scan of this frame's local `pkgate_batch`, not
    `register`ed: a registered table stays alive until the transaction commits, which in `ingest`'s
    large transactions is tens of megabytes held for nothing.
    """
    pkgate_batch = table  # noqa: F841 - read by DuckDB's replacement scan in the statement below
    row = con.execute(_INSERT[_any_erased(con), skip_stored]).fetchone()
    return int(row[0]) if row else 0
