"""Erasure on request: delete everything linked to a source id, now and when late events arrive.

The ids are written first to the erasure list beside the store (`<data_dir>/erasures`, which a
damaged store cannot lose), then into `erasures` in the store, whose rows the loader checks so an
event still in the spool at erase time does not bring the source back. The retained spool segments
and the folded days' Parquet files are rewritten without them, so no rebuild brings them back either.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from pkgate.events.retained import ErasureList, Retained
from pkgate.store.folded import erase_days, folded_dir
from pkgate.store.layout import ensure_schema
from pkgate.store.rollups import forget_sources
from pkgate.store.schema import PRUNE_AGENTS
from pkgate.store.transaction import transaction


def erase(con: duckdb.DuckDBPyConnection, source_ids: Sequence[str]) -> int:
    """Delete every event of these source ids (or network ids); return how many were deleted
    from the store (the retained segments are rewritten too)."""
    ensure_schema(con)
    ids = list(dict.fromkeys(source_ids))
    rollups = folded_dir(con)  # <data_dir>/rollups; None for an in-memory store
    if rollups is not None:
        data_dir = rollups.parent
        erasures = ErasureList(data_dir / "erasures")
        erasures.add(ids)
        Retained(data_dir / "spool", 0, 0, erasures).erase(set(ids))
        erase_days(rollups, ids)
    with transaction(con):
        con.executemany("INSERT OR IGNORE INTO erasures (source_id) VALUES (?)", [[i] for i in ids])
        row = con.execute(
            "DELETE FROM event_rows WHERE source_id IN (SELECT unnest(?::VARCHAR[])) "
            "OR network_id IN (SELECT unnest(?::VARCHAR[])) RETURNING 1",
            [ids, ids],
        ).fetchall()
        con.execute(PRUNE_AGENTS)
    forget_sources(con, ids)  # days already folded into rollups by retention
    con.execute("CHECKPOINT")
    return len(row)
