"""Who the downloads reach: the data's extent, uniques by version and country, adoption curves.

Definitions (also in docs/insights.md):
- extent: the first and last UTC day with any stored request (of the project, with one), over
  everything stored — the dashboard fits its default range to it;
- version_country: per (project, version, country) the summed daily distinct sources and
  downloaders (as `uniques`), downloads and installs; country NULL = unknown;
- release_curves: per version, its downloads, installs and share of the project's downloads on
  each day after its first day seen (`first_seen`, day 0), for `days` days: the adoption curve of
  every release on one axis. Days without downloads of the project have no row.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import msgspec

from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import daily_sql, version_country_sql

__all__ = ["CurveRow", "ExtentRow", "VersionCountryRow", "extent", "release_curves", "version_country"]

_EVER = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ExtentRow(msgspec.Struct):
    """The days with data (ignores `since`/`until`)."""

    first_day: dt.date | None
    last_day: dt.date | None


class VersionCountryRow(msgspec.Struct):
    project: str
    version: str
    country: str | None
    sources: int
    downloaders: int
    downloads: int
    installs: int


class CurveRow(msgspec.Struct):
    project: str
    version: str
    first_seen: dt.date
    day: int
    downloads: int
    installs: int
    share: float


def _end_day(until: dt.datetime) -> dt.date:
    """The first UTC day not in a range ending (exclusive) at `until`."""
    u = until.astimezone(dt.UTC)
    return u.date() if u.time() == dt.time(0) else u.date() + dt.timedelta(days=1)


def extent(con: duckdb.DuckDBPyConnection, q: Query) -> list[ExtentRow]:
    """First and last day with requests, over all stored data up to `until`."""
    everything = msgspec.structs.replace(q, since=_EVER)
    rel, params = daily(con, everything, "rollup_daily", daily_sql())
    row = con.execute(
        f"SELECT min(day), max(day) FROM ({rel}) WHERE ?::VARCHAR IS NULL OR project = ?::VARCHAR",  # noqa: S608
        [*params, q.project, q.project],
    ).fetchone()
    return [ExtentRow(row[0] if row else None, row[1] if row else None)]


def version_country(con: duckdb.DuckDBPyConnection, q: Query) -> list[VersionCountryRow]:
    """Sources, downloads and installs per (project, version, country), most sources first."""
    rel, params = daily(con, q, "rollup_version_country", version_country_sql())
    rows = con.execute(
        f"""SELECT project, version, country, sum(sources), sum(downloaders), sum(downloads),
          coalesce(sum(installs), 0)
        FROM ({rel}) WHERE ?::VARCHAR IS NULL OR project = ?::VARCHAR
        GROUP BY ALL ORDER BY project, sum(sources) DESC, version, country NULLS LAST""",  # noqa: S608
        [*params, q.project, q.project],
    ).fetchall()
    return [VersionCountryRow(r[0], r[1], r[2], *(int(x) for x in r[3:])) for r in rows]


def release_curves(con: duckdb.DuckDBPyConnection, q: Query, days: int = 30) -> list[CurveRow]:
    """Each version's daily share of the project's downloads, by days since it was first seen."""
    everything = msgspec.structs.replace(q, since=_EVER)
    rel, params = daily(con, everything, "rollup_daily", daily_sql())
    rows = con.execute(
        f"""WITH d AS (
          SELECT day, project, version, sum(downloads) AS downloads, coalesce(sum(installs), 0) AS installs
          FROM ({rel}) WHERE version IS NOT NULL AND (?::VARCHAR IS NULL OR project = ?::VARCHAR)
          GROUP BY ALL),
        f AS (SELECT project, version, min(day) AS first_seen FROM d GROUP BY ALL),
        t AS (SELECT day, project, sum(downloads) AS total FROM d GROUP BY ALL)
        SELECT d.project, d.version, f.first_seen, (d.day - f.first_seen)::INTEGER AS k, d.downloads, d.installs,
          round(d.downloads / t.total, 4)
        FROM d JOIN f USING (project, version) JOIN t USING (day, project)
        WHERE t.total > 0 AND d.day - f.first_seen < ? AND d.day >= ?::DATE AND d.day < ?::DATE
        ORDER BY d.project, f.first_seen, d.version, k""",  # noqa: S608
        [*params, q.project, q.project, days, q.since.date(), _end_day(q.until)],
    ).fetchall()
    return [CurveRow(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), float(r[6])) for r in rows]
