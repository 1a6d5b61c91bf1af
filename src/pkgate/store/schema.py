"""The DuckDB schema: one wide `events` table (event + parsed User-Agent) and loader bookkeeping.

Columns mirror `pkgate.events.Event` plus the `pkgate.enrich.ua.UserAgent` fields, so every report
is one scan of one table; DuckDB's columnar compression keeps the repeated strings cheap.
"""

from __future__ import annotations

from typing import Final

import duckdb

#: (column, DuckDB type) in insert order.
EVENT_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("id", "UUID PRIMARY KEY"),
    ("ts", "TIMESTAMPTZ NOT NULL"),
    ("gateway", "VARCHAR"),
    ("method", "VARCHAR"),
    ("path", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("status", "SMALLINT"),
    ("duration_us", "INTEGER"),
    ("project", "VARCHAR"),
    ("version", "VARCHAR"),
    ("filename", "VARCHAR"),
    ("conditional", "BOOLEAN"),
    ("user_agent", "VARCHAR"),
    ("source_id", "VARCHAR"),
    ("network_id", "VARCHAR"),
    ("country", "VARCHAR"),
    ("asn", "BIGINT"),  # 4-byte ASNs reach 2^32-1
    ("org", "VARCHAR"),
    ("cloud", "VARCHAR"),
    ("upstream", "VARCHAR"),
    ("cache", "VARCHAR"),
    ("failover", "BOOLEAN"),
    ("partial", "BOOLEAN"),
    ("ecosystem", "VARCHAR"),
    ("origin", "VARCHAR"),
    ("platform", "VARCHAR"),
    ("digest", "VARCHAR"),
    ("command", "VARCHAR"),
    # parsed User-Agent
    ("ua_category", "VARCHAR"),
    ("installer", "VARCHAR"),
    ("installer_version", "VARCHAR"),
    ("subcommand", "VARCHAR"),
    ("implementation", "VARCHAR"),
    ("implementation_version", "VARCHAR"),
    ("python", "VARCHAR"),
    ("system", "VARCHAR"),
    ("system_release", "VARCHAR"),
    ("distro", "VARCHAR"),
    ("distro_version", "VARCHAR"),
    ("distro_id", "VARCHAR"),
    ("libc", "VARCHAR"),
    ("libc_version", "VARCHAR"),
    ("cpu", "VARCHAR"),
    ("openssl_version", "VARCHAR"),
    ("setuptools_version", "VARCHAR"),
    ("rustc_version", "VARCHAR"),
    ("ci", "BOOLEAN"),
    ("ci_provider", "VARCHAR"),
    ("solver", "VARCHAR"),
    ("ua_parser", "INTEGER"),
)

SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS events (
  {", ".join(f"{name} {kind}" for name, kind in EVENT_COLUMNS)}
);
CREATE TABLE IF NOT EXISTS spool_progress (segment VARCHAR PRIMARY KEY, "offset" BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS erasures (source_id VARCHAR PRIMARY KEY, erased_at TIMESTAMPTZ DEFAULT now());
CREATE TABLE IF NOT EXISTS rejects (
  segment VARCHAR, "offset" BIGINT, payload BLOB, error VARCHAR, rejected_at TIMESTAMPTZ DEFAULT now()
);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, and add columns that newer versions appended to `events`."""
    con.execute(SCHEMA)
    have = dict(
        con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'events'"
        ).fetchall()
    )
    for name, kind in EVENT_COLUMNS:
        if name not in have:
            con.execute(f"ALTER TABLE events ADD COLUMN {name} {kind}")
    if have.get("asn") == "INTEGER":  # stores made before 4-byte ASNs fitted
        con.execute("ALTER TABLE events ALTER COLUMN asn SET DATA TYPE BIGINT")
