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
    installs: int
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
    """The top-k source-days by downloads, plus every aggressive one.

    `rank` is 1 + the number of source-days with more downloads (ties share a rank). No full sort:
    a top-k, a filter and a histogram of download counts, so it stays fast with millions of rows.
    """
    rel, params = _per_source(con, q)
    rows = con.execute(
        f"""WITH s AS MATERIALIZED ({rel}),
        tot AS (SELECT coalesce(sum(downloads), 0) AS total FROM s),
        top AS (SELECT * FROM s WHERE downloads > 0 ORDER BY downloads DESC, requests DESC, day, source_id LIMIT ?),
        pick AS (SELECT * FROM top UNION SELECT * FROM s WHERE max_file_downloads > ?),
        hist AS (SELECT downloads, count(*) AS n FROM s WHERE downloads >= (SELECT min(downloads) FROM pick)
                 GROUP BY downloads),
        above AS (SELECT downloads, coalesce(sum(n) OVER (ORDER BY downloads DESC
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS greater FROM hist)
        SELECT (above.greater + 1)::BIGINT AS rank, day, source_id, pick.downloads,
          coalesce(installs, 0)::BIGINT, requests,
          CASE WHEN total > 0 THEN round(pick.downloads / total, 4) ELSE 0.0 END,
          max_file_downloads, max_file_downloads > ?
        FROM pick JOIN above USING (downloads), tot
        ORDER BY rank, requests DESC, day, source_id""",  # noqa: S608
        [*params, k, max_file_per_day, max_file_per_day],
    ).fetchall()
    return [HeavyHitterRow(*r) for r in rows]


def concentration(
    con: duckdb.DuckDBPyConnection, q: Query, tops: tuple[int, ...] = (2, 10, 20)
) -> list[ConcentrationRow]:
    """Share of all downloads made by the top N source-days, for each N in `tops`."""
    rel, params = _per_source(con, q)
    rows = con.execute(
        f"""WITH s AS MATERIALIZED ({rel})
        SELECT list(downloads ORDER BY downloads DESC)[1:?],
          (SELECT coalesce(sum(downloads), 0) FROM s), (SELECT count(*) FROM s WHERE downloads > 0)
        FROM (SELECT downloads FROM s WHERE downloads > 0 ORDER BY downloads DESC LIMIT ?)""",  # noqa: S608
        [*params, max(tops, default=0), max(tops, default=0)],
    ).fetchone()
    best: list[int] = list(rows[0] or []) if rows else []
    total, n = (int(rows[1]), int(rows[2])) if rows else (0, 0)
    result = []
    for top in tops:
        got = int(sum(best[:top]))
        result.append(ConcentrationRow(top, got, round(got / total, 4) if total else 0.0, total, n))
    return result
