"""Erasure on request: delete everything linked to a source id, now and when late events arrive.

The id is also remembered in `erasures`, and the loader drops spooled events of erased ids, so an
event still in the spool at erase time does not bring the source back.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from pkgate.store.rollups import forget_sources
from pkgate.store.schema import ensure_schema
from pkgate.store.transaction import transaction


def erase(con: duckdb.DuckDBPyConnection, source_ids: Sequence[str]) -> int:
    """Delete every event of these source ids (or network ids); return how many were deleted."""
    ensure_schema(con)
    ids = list(dict.fromkeys(source_ids))
    with transaction(con):
        con.executemany("INSERT OR IGNORE INTO erasures (source_id) VALUES (?)", [[i] for i in ids])
        row = con.execute(
            "DELETE FROM events WHERE source_id IN (SELECT unnest(?::VARCHAR[])) "
            "OR network_id IN (SELECT unnest(?::VARCHAR[])) RETURNING 1",
            [ids, ids],
        ).fetchall()
    forget_sources(con, ids)  # days already folded into rollups by retention
    return len(row)
