"""Folded days outside the DuckDB file: what a rebuild needs once retention deleted their events.

When retention folds days into the rollups, their rollup rows (and `rollup_state` rows) are also
written to Parquet, one file per table and day, beside the store (`<data_dir>/rollups/<table>/
<day>.parquet`, replaced atomically, so a crash and a re-run give the same files). A rebuild imports
them; erasure rewrites the per-source files so no rebuild brings an erased source back.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import duckdb

from pkgate.fsutil import TMP_PREFIX, fsync_dir

#: rollup tables + the state table, in import order (the state last: it says "these days are done").
TABLES: Final = (
    "rollup_daily",
    "rollup_uniques",
    "rollup_breakdown",
    "rollup_sources",
    "rollup_behaviour",
    "rollup_source_days",
    "rollup_state",
)
#: Tables with per-source rows, which erasure rewrites.
PER_SOURCE: Final = {"rollup_sources": ("source_id", "network_id"), "rollup_source_days": ("source_id",)}


def folded_dir(con: duckdb.DuckDBPyConnection) -> Path | None:
    """`<data_dir>/rollups` of this connection's store; None for an in-memory store."""
    row = con.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    return Path(row[0]).parent / "rollups" if row and row[0] else None


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def _copy(con: duckdb.DuckDBPyConnection, query: str, params: list[object], dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{TMP_PREFIX}{os.getpid()}-{dest.name}")
    con.execute(f"COPY ({query}) TO '{_quote(tmp)}' (FORMAT parquet)", params)
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def export_days(con: duckdb.DuckDBPyConnection, days: Sequence[dt.date]) -> int:
    """Write these days' rollup rows to Parquet; return the number of files written."""
    directory = folded_dir(con)
    if directory is None:
        return 0
    n = 0
    for day in days:
        for table in TABLES:
            # The state rows say "folded": they are written before the fold commits (re-run safe).
            cols = " REPLACE (true AS folded)" if table == "rollup_state" else ""
            query = f"SELECT *{cols} FROM {table} WHERE day = ?"  # noqa: S608 - constant table names
            _copy(con, query, [day], directory / table / f"{day.isoformat()}.parquet")
            n += 1
    return n


def import_days(con: duckdb.DuckDBPyConnection, directory: Path) -> list[dt.date]:
    """Load exported folded days into a (new, empty) store's rollups; return the days."""
    days: set[dt.date] = set()
    for table in TABLES:
        files = sorted(str(p) for p in (directory / table).glob("*.parquet"))
        if not files:
            continue
        # union_by_name: days folded by an older version may lack columns added since (NULL there)
        query = f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?, union_by_name = true)"  # noqa: S608
        con.execute(query, [files])
        if table == "rollup_state":
            days |= {r[0] for r in con.execute("SELECT day FROM rollup_state WHERE folded").fetchall()}
    return sorted(days)


def erase_days(directory: Path, ids: Sequence[str]) -> int:
    """Rewrite the per-source Parquet files without these ids; return how many files changed."""
    if not ids or not directory.exists():
        return 0
    con = duckdb.connect()
    changed = 0
    try:
        sources = sorted((directory / "rollup_sources").glob("*.parquet"))
        if sources:  # an erased network erases its sources' per-day rows too (as forget_sources)
            rows = con.execute(
                "SELECT DISTINCT source_id FROM read_parquet(?) "
                "WHERE network_id IN (SELECT unnest(?::VARCHAR[]))",
                [[str(p) for p in sources], list(ids)],
            ).fetchall()
            ids = sorted(set(ids) | {r[0] for r in rows})
        for table, columns in PER_SOURCE.items():
            match = " OR ".join(f"{c} IN (SELECT unnest(?::VARCHAR[]))" for c in columns)
            for path in sorted((directory / table).glob("*.parquet")):
                hit = con.execute(
                    f"SELECT count(*) FROM read_parquet(?) WHERE {match}",  # noqa: S608
                    [str(path), *([list(ids)] * len(columns))],
                ).fetchone()
                if hit and hit[0]:
                    _copy(
                        con,
                        f"SELECT * FROM read_parquet('{_quote(path)}') WHERE NOT ({match})",  # noqa: S608
                        [list(ids)] * len(columns),
                        path,
                    )
                    changed += 1
    finally:
        con.close()
    return changed
