"""The store's tables made, and a store made by an earlier version brought up to date on open.

Earlier versions appended columns to `events`, kept it as one wide table (each event with its
agent's parsed columns), and kept what an older User-Agent parser made of an agent. All three are
mended here, by the writer that opens the store, in one transaction each.
"""

from __future__ import annotations

import logging

import duckdb

from pkgate.enrich.ua import PARSER_VERSION
from pkgate.store.rows import agent_row, agent_table
from pkgate.store.schema import (
    AGENT_COLUMNS,
    EVENT_COLUMNS,
    EVENTS_VIEW,
    ROW_COLUMNS,
    SCHEMA,
)
from pkgate.store.transaction import transaction

__all__ = ["ensure_schema"]

log = logging.getLogger("pkgate.store")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? AND schema_name = 'main'",
        [table],
    ).fetchall()
    return dict(rows)


def _kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """'BASE TABLE', 'VIEW' or None."""
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchone()
    return str(row[0]) if row else None


def _add_missing(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[tuple[str, str], ...]) -> bool:
    """Add the columns newer versions appended, and widen `asn` of a store made before 4-byte ASNs
    fitted; whether any column was added."""
    have = _columns(con, table)
    for name, kind in columns:
        if name not in have:
            con.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind.removesuffix(' PRIMARY KEY')}")
    if have.get("asn") == "INTEGER":
        con.execute(f"ALTER TABLE {table} ALTER COLUMN asn SET DATA TYPE BIGINT")
    return any(name not in have for name, _ in columns)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables and the `events` view, and bring an earlier version's store up to date."""
    if _kind(con, "events") == "BASE TABLE":
        _split(con)
    con.execute(SCHEMA)
    grown = _add_missing(con, "event_rows", ROW_COLUMNS)
    grown = _add_missing(con, "agents", AGENT_COLUMNS) or grown
    if grown or _kind(con, "events") is None:
        con.execute(EVENTS_VIEW)
    _reparse(con)


def _split(con: duckdb.DuckDBPyConnection) -> None:
    """A wide `events` table -> `event_rows` and `agents` (each agent parsed again), in one
    transaction: a store interrupted here is still the old one."""
    log.warning("store: moving the events to the layout of this version (once; a large store takes a while)")
    with transaction(con):
        _add_missing(con, "events", EVENT_COLUMNS)
        uas = [r[0] for r in con.execute("SELECT DISTINCT user_agent FROM events").fetchall()]
        agents = agent_table(agent_row(ua) for ua in uas if ua is not None)
        con.execute(SCHEMA)
        pkgate_agents = agents  # noqa: F841 - read by DuckDB's replacement scan
        con.execute(f"INSERT INTO agents ({', '.join(agents.column_names)}) SELECT * FROM pkgate_agents")  # noqa: S608
        names = ", ".join(f"e.{n}" for n, _ in ROW_COLUMNS if n != "agent")
        moved = con.execute(
            f"INSERT INTO event_rows SELECT {names}, a.agent FROM events e "  # noqa: S608 - constants
            "LEFT JOIN pkgate_agents a ON a.user_agent = e.user_agent"
        ).fetchone()
        con.execute("DROP TABLE events")
        con.execute(EVENTS_VIEW)
    log.warning(
        "store: %d events moved to the layout of this version (%d distinct User-Agents)",
        moved[0] if moved else 0,
        agents.num_rows,
    )


def _reparse(con: duckdb.DuckDBPyConnection) -> None:
    """Agents an older User-Agent parser read, read again by this one: the raw text is kept for
    this (docs/privacy.md), and there are few agents however many events."""
    old = con.execute(
        "SELECT user_agent FROM agents WHERE ua_parser IS DISTINCT FROM ?", [PARSER_VERSION]
    ).fetchall()
    if not old:
        return
    pkgate_agents = agent_table(agent_row(r[0]) for r in old)
    names = [n for n in pkgate_agents.column_names if n not in ("agent", "user_agent")]
    with transaction(con):
        con.execute(
            f"UPDATE agents SET {', '.join(f'{n} = p.{n}' for n in names)} "  # noqa: S608 - constants
            "FROM pkgate_agents p WHERE agents.agent = p.agent"
        )
    log.info("store: %d User-Agents parsed again (parser version %d)", len(old), PARSER_VERSION)
