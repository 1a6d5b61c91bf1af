"""Downloads vs attempts, per project and version, over a range and per day.

Definitions (also in docs/insights.md):
- downloads: `GET` file requests answered with a redirect (3xx) to the upstream file;
- installs: distinct (resolver session, file) pairs with a download, a session being one source's
  requests with one User-Agent less than 60 s apart (`pkgate.store.aggregates.SESSION_GAP_S`):
  uv's metadata read + download, retries and re-fetches within one install count once;
- index_hits: `GET`/`HEAD` index page requests answered 200 (project rows have version NULL);
- not_modified: index requests answered 304 (revalidations by clients that had the page);
- head: `HEAD` requests for files (and image manifests: checks);
- metadata: PEP 658 `.metadata` fetches answered with a redirect;
- failed: any request for the project answered 4xx/5xx;
- sources: distinct daily source ids, summed over the days of the range (ids rotate daily, so the
  same machine on two days counts twice — see docs/privacy.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import msgspec

from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import daily_sql


class DownloadRow(msgspec.Struct):
    project: str
    version: str | None
    downloads: int
    installs: int
    index_hits: int
    not_modified: int
    head: int
    metadata: int
    failed: int
    sources: int
    ecosystem: str = "python"  # a name is one project per ecosystem (npm `six` is not PyPI's)


class DailyRow(msgspec.Struct):
    day: dt.date
    project: str
    version: str | None
    downloads: int
    installs: int
    index_hits: int
    not_modified: int
    head: int
    metadata: int
    failed: int
    ecosystem: str = "python"


_COUNTS = "downloads, installs, index_hits, not_modified, head, metadata, failed"


def _summed(con: duckdb.DuckDBPyConnection, q: Query, keys: str, extra: str = "") -> list[tuple[Any, ...]]:
    """The daily counts summed per `keys` (constant column names), filtered by the query's project."""
    rel, params = daily(con, q, "rollup_daily", daily_sql())
    sums = ", ".join(f"coalesce(sum({c}), 0)" for c in _COUNTS.split(", "))
    rows: list[tuple[Any, ...]] = con.execute(
        f"SELECT {keys}, {sums}{extra} FROM ({rel}) "  # noqa: S608 - constants only
        "WHERE ?::VARCHAR IS NULL OR project = ?::VARCHAR "
        f"GROUP BY {keys} ORDER BY {keys} NULLS FIRST",
        [*params, q.project, q.project],
    ).fetchall()
    return rows


def downloads(con: duckdb.DuckDBPyConnection, q: Query) -> list[DownloadRow]:
    """One row per (project, version) with requests in [since, until)."""
    rows = _summed(con, q, "ecosystem, project, version", ", sum(sources)")
    names = DownloadRow.__struct_fields__
    return [
        DownloadRow(**dict(zip(names, (r[1], r[2], *(int(x) for x in r[3:]), r[0]), strict=True)))
        for r in rows
    ]


def downloads_daily(con: duckdb.DuckDBPyConnection, q: Query) -> list[DailyRow]:
    """One row per (day, project, version) with requests that day: the time series of `downloads`."""
    rows = _summed(con, q, "day, ecosystem, project, version")
    names = DailyRow.__struct_fields__
    return [
        DailyRow(**dict(zip(names, (r[0], r[2], r[3], *(int(x) for x in r[4:]), r[1]), strict=True)))
        for r in rows
    ]
