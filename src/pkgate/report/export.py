"""`pkgate export`: the stored events of a range as Parquet or CSV, streamed by DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Final

import duckdb

from pkgate.errors import PkgateError
from pkgate.insights.query import Query

EXPORT_FORMATS: Final = ("parquet", "csv")

# Ids as text and times as UTC timestamps: readable by every Parquet/CSV consumer.
_SELECT: Final = (
    "SELECT * REPLACE (CAST(id AS VARCHAR) AS id, timezone('UTC', ts) AS ts) FROM events "
    "WHERE ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ AND (?::VARCHAR IS NULL OR project = ?::VARCHAR) "
    "ORDER BY ts"
)


def export_events(con: duckdb.DuckDBPyConnection, q: Query, fmt: str, output: Path) -> int:
    """Write the events of `q` to `output`; return how many were written."""
    if fmt not in EXPORT_FORMATS:
        raise PkgateError(f"export: format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    params = [q.since, q.until, q.project, q.project]
    cur = con.cursor()  # its own result state: the caller may have an unfetched result pending
    try:
        rel = cur.sql(_SELECT, params=params)
        if fmt == "parquet":
            rel.write_parquet(str(output), compression="zstd")
        else:
            rel.write_csv(str(output), header=True)
    except (duckdb.IOException, OSError) as exc:
        raise PkgateError(f"cannot write {output}: {exc}") from None
    finally:
        cur.close()
    row = con.execute(
        "SELECT count(*) FROM events WHERE ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ "
        "AND (?::VARCHAR IS NULL OR project = ?::VARCHAR)",
        params,
    ).fetchone()
    return int(row[0]) if row else 0
