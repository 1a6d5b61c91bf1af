"""Events as the store's rows: the Arrow tables of `event_rows` and `agents`, and their inserts.

Shared by the loader (spooled gateway events) and `ingest` (rows built column-wise in its worker
processes), so that both write exactly the same columns the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any, Final, NamedTuple

import duckdb
import pyarrow as pa
from msgspec.structs import astuple

from pkgate.enrich.ua import PARSER_VERSION, UserAgent, parse_cached
from pkgate.events import Event
from pkgate.store.schema import AGENT_COLUMNS, ROW_COLUMNS
from pkgate.store.sketches import fold_marks

__all__ = [
    "AGENT_SCHEMA",
    "ROW_SCHEMA",
    "UA_COLUMNS",
    "Rows",
    "agent_id",
    "agent_row",
    "agent_table",
    "insert_events",
    "insert_rows",
    "to_rows",
    "ua_row",
]

_UA_FIELDS = [f for f in UserAgent.__struct_fields__ if f not in ("category", "raw")]
_EVENT_FIELDS = [f for f in Event.__struct_fields__ if f not in ("id", "ts_us", "user_agent")]
_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "SMALLINT": pa.int16(),
    "INTEGER": pa.int32(),
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.bool_(),
    "UUID": pa.string(),  # the loader's text id (ingest's are 16-byte `arrow.uuid`): cast on insert
    "TIMESTAMPTZ": pa.timestamp("us", tz="UTC"),
}


def _arrow(columns: tuple[tuple[str, str], ...]) -> pa.Schema:
    return pa.schema([pa.field(name, _ARROW_TYPES[kind.split()[0]]) for name, kind in columns])


#: `event_rows` as Arrow: what `to_rows` and the ingest's workers make, `insert_rows` takes.
ROW_SCHEMA: Final = _arrow(ROW_COLUMNS)
#: `agents` as Arrow.
AGENT_SCHEMA: Final = _arrow(AGENT_COLUMNS)
#: The parsed User-Agent's columns, in the order `ua_row` gives them.
UA_COLUMNS: Final = ("ua_category", *_UA_FIELDS, "ua_parser")
_ROW_NAMES: Final = ROW_SCHEMA.names
_AGENT_NAMES: Final = AGENT_SCHEMA.names


class Rows(NamedTuple):
    """Events as the store's rows: `events` (`ROW_SCHEMA`) and at least the agents they name
    (`AGENT_SCHEMA`; an agent already stored is left as it is)."""

    events: pa.Table
    agents: pa.Table


def ua_row(ua: str) -> tuple[Any, ...]:
    """The parsed columns (`UA_COLUMNS`) of a stored User-Agent."""
    parsed = parse_cached(ua)
    return (parsed.category, *(getattr(parsed, f) for f in _UA_FIELDS), PARSER_VERSION)


def agent_id(ua: str) -> int:
    """The id of a stored User-Agent: 64 bits of its BLAKE2b, the same in every process and run,
    so writers never need to agree on a number (two agents of a store meeting by chance: about
    n²/2⁶⁵ for n agents, 3·10⁻⁸ for a million)."""
    digest = hashlib.blake2b(ua.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def agent_row(ua: str) -> tuple[Any, ...]:
    """An `agents` row (`AGENT_COLUMNS`) of a stored User-Agent."""
    return (agent_id(ua), ua, *ua_row(ua))


def agent_table(rows: Iterable[tuple[Any, ...]]) -> pa.Table:
    """`agent_row`s as an Arrow table."""
    columns = list(zip(*rows, strict=True)) or [() for _ in _AGENT_NAMES]
    return pa.Table.from_arrays(
        [pa.array(values, field.type) for values, field in zip(columns, AGENT_SCHEMA, strict=True)],
        schema=AGENT_SCHEMA,
    )


def to_rows(events: Sequence[Event]) -> Rows:
    """Events as the store's rows; each distinct User-Agent parsed once (a batch has few)."""
    if not events:
        return Rows(ROW_SCHEMA.empty_table(), AGENT_SCHEMA.empty_table())
    columns = dict(zip(Event.__struct_fields__, zip(*map(astuple, events), strict=True), strict=True))
    agents = {ua: agent_row(ua) for ua in set(columns["user_agent"])}
    data: dict[str, Any] = {"id": columns["id"], "ts": columns["ts_us"]}
    data.update((f, columns[f]) for f in _EVENT_FIELDS)
    data["agent"] = [agents[ua][0] for ua in columns["user_agent"]]
    table = pa.Table.from_pydict({name: data[name] for name in _ROW_NAMES}, schema=ROW_SCHEMA)
    return Rows(table, agent_table(agents.values()))


_UNERASED: Final = (
    " WHERE NOT EXISTS (SELECT 1 FROM erasures x WHERE x.source_id IN (b.source_id, b.network_id))"
)


def _insert_sql(*, unerased: bool, skip_stored: bool) -> str:
    """The insert of `event_rows` from the local `pkgate_batch` (aliased `b`), built from constant
    column names only. `unerased` drops the rows of erased sources; `skip_stored` ignores rows
    already stored."""
    sql = (
        f"INSERT INTO event_rows ({', '.join(_ROW_NAMES)}) "  # noqa: S608
        f"SELECT {', '.join('CAST(id AS UUID)' if n == 'id' else n for n in _ROW_NAMES)} FROM pkgate_batch b"
    )
    return sql + (_UNERASED if unerased else "") + (" ON CONFLICT DO NOTHING" if skip_stored else "")


#: (unerased, skip_stored) -> the insert of a batch of rows.
_INSERT: Final = {
    (u, s): _insert_sql(unerased=u, skip_stored=s) for u in (True, False) for s in (True, False)
}
_INSERT_AGENTS: Final = (
    f"INSERT INTO agents ({', '.join(_AGENT_NAMES)}) SELECT * FROM pkgate_agents ON CONFLICT DO NOTHING"  # noqa: S608
)


def _any_erased(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether any source was ever erased. Usually none: the check of every row against
    `erasures` is then left out, a quarter of an ingest's insert (bench/README.md, ingest). Asked
    in the insert's own transaction, and the store has one writer, so the answer holds for it."""
    row = con.execute("SELECT EXISTS (SELECT 1 FROM erasures)").fetchone()
    return bool(row and row[0])


def insert_rows(con: duckdb.DuckDBPyConnection, rows: Rows, *, skip_stored: bool = True) -> int:
    """Insert rows made by `to_rows` (or elsewhere, e.g. in `ingest`'s worker processes); the
    number of events that were new. An event already stored is ignored, or with
    `skip_stored=False` raises `duckdb.ConstraintException` instead: the conflict check makes an
    insert half as dear again (bench/README.md, ingest), and the loader's batches are almost
    always new.

    The tables are found by DuckDB's replacement scan of this frame's locals, not `register`ed: a
    registered table stays alive until the transaction commits, which in `ingest`'s large
    transactions is tens of megabytes held for nothing.
    """
    if rows.agents.num_rows:
        pkgate_agents = rows.agents  # noqa: F841 - read by DuckDB's replacement scan below
        con.execute(_INSERT_AGENTS)
    if not rows.events.num_rows:
        return 0
    pkgate_batch = rows.events  # noqa: F841 - read by DuckDB's replacement scan below
    row = con.execute(_INSERT[_any_erased(con), skip_stored]).fetchone()
    return int(row[0]) if row else 0


def insert_events(
    con: duckdb.DuckDBPyConnection, events: Sequence[Event], *, skip_stored: bool = True
) -> None:
    """`insert_rows` of events, and their HLL marks folded (they are not stored with the events,
    `pkgate.store.sketches`)."""
    if not events:
        return
    insert_rows(con, to_rows(events), skip_stored=skip_stored)
    fold_marks(con, events)
