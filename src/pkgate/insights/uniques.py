"""Unique sources per day, week or month, per version, and downloads per source.

Definitions (also in docs/insights.md):
- level `client` counts `source_id`s (one client address), level `network` counts `network_id`s
  (its /24 or /48: a company NAT or a CI pool counts once);
- sources: distinct ids with any request for the project (or version) on a day. Ids rotate at UTC
  midnight and cannot be linked across days, so a week's or month's figure is the **sum of its
  daily figures** (a machine active on 5 days counts 5 times); `days` says how many days had
  data, and `sources / days` is the honest "typical day";
- unique_sources / unique_downloaders: the same, really distinct over the period: for a day the
  exact daily count, for a week or month the HyperLogLog estimate of the period's sketch
  (`pkgate.store.sketches`, about 1.6 % standard error), for the whole ISO week or month even when
  the range cuts it; NULL where there is no sketch (per-version rows, data recorded before
  sketches existed) and, when mirrors, bots and CI are left out (`Query.all_sources` False), in
  the periods where any source-day was left out (the sketches count every source);
- downloaders: distinct ids with at least one download; downloads_per_source = downloads /
  downloaders (NULL when nobody downloaded); installs and installs_per_source likewise, with
  installs as in `downloads`;
- rows: with `q.project`, one row per version plus a project total (`version` NULL); without,
  one row per project plus a gateway total (`project` NULL).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, Literal

import duckdb
import msgspec

from pkgate.errors import PkgateError
from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import uniques_sql
from pkgate.store.sketches import estimate_sql

Level = Literal["client", "network"]
Period = Literal["day", "week", "month"]
LEVELS: Final = ("client", "network")
PERIODS: Final = ("day", "week", "month")


class UniqueRow(msgspec.Struct):
    period: dt.date
    project: str | None
    version: str | None
    sources: int
    downloaders: int
    downloads: int
    downloads_per_source: float | None
    installs: int
    installs_per_source: float | None
    days: int
    unique_sources: int | None
    unique_downloaders: int | None


def _has_sketches(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'hll' AND schema_name = 'main'"
    ).fetchone()
    return bool(row and row[0])


def _sketched(
    con: duckdb.DuckDBPyConnection, q: Query, level: Level, period: Period
) -> dict[tuple[dt.date, str | None, bool], int]:
    """(period, project or None for the gateway, downloaders only) -> HLL estimate."""
    if period == "day" or not _has_sketches(con):
        return {}
    registers = """SELECT {'period': period, 'project': project, 'dl': dl} AS grp, register, max(rank) AS rank
      FROM hll WHERE kind = ? AND level = ? AND period BETWEEN ? AND ?
        AND (?::VARCHAR IS NULL OR ecosystem = ?::VARCHAR)
        AND (CASE WHEN ?::VARCHAR IS NULL THEN true ELSE project = ?::VARCHAR END)
      GROUP BY ALL"""
    first = q.since.date() - dt.timedelta(days=31)
    rows = con.execute(
        f"SELECT grp.period, grp.project, grp.dl, estimate FROM ({estimate_sql(registers)})",  # noqa: S608
        [period, level, first, q.until.date(), q.ecosystem, q.ecosystem, q.project, q.project],
    ).fetchall()
    return {(r[0], r[1] or None, bool(r[2])): int(r[3]) for r in rows}


def uniques(
    con: duckdb.DuckDBPyConnection, q: Query, level: Level = "client", period: Period = "day"
) -> list[UniqueRow]:
    """Unique sources (or networks) per period; see the module docstring for the exact rules."""
    if level not in LEVELS:
        raise PkgateError(f"uniques: level must be one of {', '.join(LEVELS)}, got {level!r}")
    if period not in PERIODS:
        raise PkgateError(f"uniques: period must be one of {', '.join(PERIODS)}, got {period!r}")
    src, dls = ("sources", "downloaders") if level == "client" else ("networks", "download_networks")
    rel, params = daily(con, q, "rollup_uniques", uniques_sql())
    # grain 0: per version, 1: per project, 3: whole gateway (see aggregates.uniques_sql)
    grains = "(grain = 0 AND project = ?) OR (grain = 1 AND project = ?)"
    if q.project is None:
        grains = "(grain = 1 AND ?::VARCHAR IS NULL) OR (grain = 3 AND ?::VARCHAR IS NULL)"
    rows = con.execute(
        f"""SELECT CAST(date_trunc('{period}', day) AS DATE) AS period,
          CASE WHEN grain = 3 THEN NULL ELSE project END AS project,
          CASE WHEN grain = 0 THEN version END AS version,
          sum({src}), sum({dls}), sum(downloads), count(DISTINCT day), coalesce(sum(installs), 0)
        FROM ({rel}) WHERE {grains}
        GROUP BY ALL ORDER BY period, project NULLS FIRST, version NULLS FIRST""",  # noqa: S608
        [*params, q.project, q.project],
    ).fetchall()
    sketch = _sketched(con, q, level, period)
    if not q.all_sources and sketch:
        # The sketches count every source (whether one is a mirror is known only once its day is
        # over): they hold for people only in the periods where no source-day was left out.
        everyone = {
            (r.period, r.project): r.sources
            for r in uniques(con, msgspec.structs.replace(q, all_sources=True), level, period)
            if r.version is None
        }
        people = {(r[0], r[1]): int(r[3]) for r in rows if r[2] is None}
        sketch = {k: v for k, v in sketch.items() if everyone.get(k[:2]) == people.get(k[:2])}

    def distinct(row: tuple[Any, ...], dl: bool) -> int | None:
        if period == "day":
            return int(row[4] if dl else row[3])
        if row[2] is not None:
            return None
        return sketch.get((row[0], row[1], dl))

    return [
        UniqueRow(
            period=r[0],
            project=r[1],
            version=r[2],
            sources=int(r[3]),
            downloaders=int(r[4]),
            downloads=int(r[5]),
            downloads_per_source=round(r[5] / r[4], 3) if r[4] else None,
            installs=int(r[7]),
            installs_per_source=round(r[7] / r[4], 3) if r[4] else None,
            days=int(r[6]),
            unique_sources=distinct(r, False),
            unique_downloaders=distinct(r, True),
        )
        for r in rows
    ]
