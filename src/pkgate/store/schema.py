"""The DuckDB schema: the `events` every report reads, and loader bookkeeping.

`events` is a view: each event (`pkgate.events.Event`) with the `pkgate.enrich.ua.UserAgent` fields
of its User-Agent. A log has few agents and many events, so the agent's 23 columns are stored once
per distinct agent (`agents`) and each event row (`event_rows`) holds its agent's id: an insert
writes half the columns (the store's insert was the ingest's bottleneck; bench/README.md, ingest),
and a better User-Agent parser re-parses a few thousand agents, not every event.
"""

from __future__ import annotations

from typing import Final

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

#: The columns that depend only on the User-Agent: stored once per distinct agent in `agents`.
AGENT_NAMES: Final = (
    "user_agent",
    *(name for name, _ in EVENT_COLUMNS[EVENT_COLUMNS.index(("ua_category", "VARCHAR")) :]),
)
#: `agents`: an agent's id (`store.rows.agent_id`, a hash of the text), the text and what it parses into.
AGENT_COLUMNS: Final = (
    ("agent", "BIGINT PRIMARY KEY"),
    *((n, k) for n, k in EVENT_COLUMNS if n in AGENT_NAMES),
)
#: `event_rows`: the rest of an event, and its agent's id.
ROW_COLUMNS: Final = (*((n, k) for n, k in EVENT_COLUMNS if n not in AGENT_NAMES), ("agent", "BIGINT"))


def _table(name: str, columns: tuple[tuple[str, str], ...]) -> str:
    return f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(f'{n} {k}' for n, k in columns)});"


SCHEMA: Final = f"""
{_table("event_rows", ROW_COLUMNS)}
{_table("agents", AGENT_COLUMNS)}
CREATE TABLE IF NOT EXISTS spool_progress (segment VARCHAR PRIMARY KEY, "offset" BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS erasures (source_id VARCHAR PRIMARY KEY, erased_at TIMESTAMPTZ DEFAULT now());
CREATE TABLE IF NOT EXISTS rejects (
  segment VARCHAR, "offset" BIGINT, payload BLOB, error VARCHAR, rejected_at TIMESTAMPTZ DEFAULT now()
);
"""
#: Agents no event names any more (after an erasure or retention): nothing is kept of them.
PRUNE_AGENTS: Final = (
    "DELETE FROM agents WHERE agent NOT IN (SELECT agent FROM event_rows WHERE agent IS NOT NULL)"
)
#: What every report reads: each event with its agent's columns, in `EVENT_COLUMNS` order.
EVENTS_VIEW: Final = (
    "CREATE OR REPLACE VIEW events AS SELECT "  # noqa: S608 - constants only
    + ", ".join(f"{'a' if n in AGENT_NAMES else 'e'}.{n}" for n, _ in EVENT_COLUMNS)
    + " FROM event_rows e LEFT JOIN agents a ON a.agent = e.agent"
)
