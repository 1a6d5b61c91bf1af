"""Version adoption: each version's share of downloads over time, and when it was first used.

Definitions (also in docs/insights.md):
- share: the version's downloads / all downloads of the project in that day or week (ISO weeks,
  starting Monday); versions without downloads in a period have no row; install_share likewise
  with installs (see `downloads`);
- first_seen: the first UTC day any request named a file of the version (download, HEAD,
  metadata), over everything stored up to `until` — not the upload time, which the gateway does
  not record (index pages are not stored); first_download: the first day with a download;
  lag_days: first_download - first_seen. For a version released while the gateway was already in
  use, first_seen is close to its release day; for older versions it is just "first seen here".
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

import duckdb
import msgspec

from pkgate.errors import PkgateError
from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import daily_sql

PERIODS: Final = ("day", "week")


class AdoptionRow(msgspec.Struct):
    period: dt.date
    project: str
    version: str
    downloads: int
    share: float
    installs: int
    install_share: float


class FirstSeenRow(msgspec.Struct):
    project: str
    version: str
    first_seen: dt.date
    first_download: dt.date | None
    lag_days: int | None


def adoption(
    con: duckdb.DuckDBPyConnection, q: Query, period: Literal["day", "week"] = "day"
) -> list[AdoptionRow]:
    """Per (period, project, version): downloads and the share of the project's downloads."""
    if period not in PERIODS:
        raise PkgateError(f"adoption: period must be one of {', '.join(PERIODS)}, got {period!r}")
    rel, params = daily(con, q, "rollup_daily", daily_sql())
    rows = con.execute(
        f"""WITH v AS (
          SELECT CAST(date_trunc('{period}', day) AS DATE) AS period, project, version,
            sum(downloads) AS downloads, coalesce(sum(installs), 0) AS installs
          FROM ({rel})
          WHERE version IS NOT NULL AND downloads > 0 AND (?::VARCHAR IS NULL OR project = ?::VARCHAR)
          GROUP BY ALL)
        SELECT period, project, version, downloads,
          round(downloads / sum(downloads) OVER (PARTITION BY period, project), 4), installs,
          coalesce(round(installs / nullif(sum(installs) OVER (PARTITION BY period, project), 0), 4), 0)
        FROM v ORDER BY period, project, downloads DESC, version""",  # noqa: S608
        [*params, q.project, q.project],
    ).fetchall()
    return [AdoptionRow(r[0], r[1], r[2], int(r[3]), float(r[4]), int(r[5]), float(r[6])) for r in rows]


def first_seen(con: duckdb.DuckDBPyConnection, q: Query) -> list[FirstSeenRow]:
    """Per (project, version) seen before `until`: first day requested, first day downloaded."""
    everything = msgspec.structs.replace(q, since=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    rel, params = daily(con, everything, "rollup_daily", daily_sql())
    rows = con.execute(
        f"""SELECT project, version, min(day), min(day) FILTER (WHERE downloads > 0)
        FROM ({rel}) WHERE version IS NOT NULL AND (?::VARCHAR IS NULL OR project = ?::VARCHAR)
        GROUP BY project, version ORDER BY project, min(day), version""",  # noqa: S608
        [*params, q.project, q.project],
    ).fetchall()
    return [FirstSeenRow(r[0], r[1], r[2], r[3], (r[3] - r[2]).days if r[3] else None) for r in rows]
