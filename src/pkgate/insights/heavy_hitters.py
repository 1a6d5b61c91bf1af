"""Heavy hitters and concentration: who downloads the most, and who downloads too much.

Definitions (also in docs/insights.md):
- a *source* is one source id on one UTC day (ids rotate daily and cannot be linked across days),
  so "top sources over a month" are the top source-days;
- downloads as in `downloads` (file GETs answered with a redirect);
- share: the source's downloads / all downloads in the range (for the query's project, if any);
  `concentration` gives the share of the top 2, 10 and 20;
- aggressive: the source downloaded one and the same file more than `max_file_per_day` times that
  day (a client without a cache, a retry loop, a misconfigured mirror). Flagged sources are listed
  even when they are not in the top k.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import msgspec

from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import source_days_sql, sources_sql

#: Default for "too many downloads of one file by one source in one day": more than hourly.
MAX_FILE_PER_DAY = 24


class HeavyHitterRow(msgspec.Struct):
    rank: int
    day: dt.date
    source_id: str
    downloads: int
    requests: int
    share: float
    max_file_downloads: int
    aggressive: bool


class ConcentrationRow(msgspec.Struct):
    top: int
    downloads: int
    share: float
    total_downloads: int
    sources: int


def _per_source(con: duckdb.DuckDBPyConnection, q: Query) -> tuple[str, list[Any]]:
    """Source-day rows: pre-aggregated over projects, or summed over the query's project."""
    if q.project is None:
        return daily(con, q, "rollup_source_days", source_days_sql(sources_sql()))
    rel, params = daily(con, q, "rollup_sources", sources_sql())
    sql = source_days_sql(f"SELECT * FROM ({rel}) WHERE project = ?::VARCHAR")  # noqa: S608
    return sql, [*params, q.project]


def heavy_hitters(
    con: duckdb.DuckDBPyConnection, q: Query, k: int = 20, max_file_per_day: int = MAX_FILE_PER_DAY
) -> list[HeavyHitterRow]:
    """The top-k source-days by downloads, plus every aggressive one."""
    rel, params = _per_source(con, q)
    rows = con.execute(
        f"""WITH s AS ({rel}),
        r AS (SELECT *, row_number() OVER (ORDER BY downloads DESC, requests DESC, day, source_id) AS rank,
                     sum(downloads) OVER () AS total FROM s)
        SELECT rank, day, source_id, downloads, requests,
          CASE WHEN total > 0 THEN round(downloads / total, 4) ELSE 0.0 END,
          max_file_downloads, max_file_downloads > ?
        FROM r WHERE (rank <= ? AND downloads > 0) OR max_file_downloads > ? ORDER BY rank""",  # noqa: S608
        [*params, max_file_per_day, k, max_file_per_day],
    ).fetchall()
    return [HeavyHitterRow(*r) for r in rows]


def concentration(
    con: duckdb.DuckDBPyConnection, q: Query, tops: tuple[int, ...] = (2, 10, 20)
) -> list[ConcentrationRow]:
    """Share of all downloads made by the top N source-days, for each N in `tops`."""
    rel, params = _per_source(con, q)
    rows = con.execute(
        f"""WITH s AS ({rel}),
        r AS (SELECT downloads, row_number() OVER (ORDER BY downloads DESC) AS rank FROM s WHERE downloads > 0),
        t AS (SELECT unnest(?::INTEGER[]) AS top)
        SELECT top, coalesce(sum(downloads) FILTER (WHERE rank <= top), 0),
          (SELECT coalesce(sum(downloads), 0) FROM r), (SELECT count(*) FROM r)
        FROM t, r GROUP BY top ORDER BY top""",  # noqa: S608
        [*params, list(tops)],
    ).fetchall()
    out = {int(r[0]): r for r in rows}
    result = []
    for top in tops:
        r = out.get(top)
        got, total, n = (int(r[1]), int(r[2]), int(r[3])) if r else (0, 0, 0)
        result.append(ConcentrationRow(top, got, round(got / total, 4) if total else 0.0, total, n))
    return result
