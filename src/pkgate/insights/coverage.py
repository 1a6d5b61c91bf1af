"""Which part of a query the rollups answer and which part the raw events answer.

A day is read from a rollup table when it is listed in `rollup_state` and lies wholly inside
`[since, until)`; everything else (today before the next refresh, the partial days at the edges of
a range, a store without rollups) runs the same aggregate SQL over the raw events. The union of
both is a per-day relation with the rollup table's columns, so every insight is written once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import duckdb

from pkgate.insights.query import Query
from pkgate.store.aggregates import SCOPED
from pkgate.store.rollups import has_rollups


class Coverage(NamedTuple):
    rolled: list[dt.date]
    raw: list[tuple[dt.datetime, dt.datetime]]


def _utc(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def coverage(con: duckdb.DuckDBPyConnection, q: Query) -> Coverage:
    since, until = _utc(q.since), _utc(q.until)
    if since >= until:
        return Coverage([], [])
    state: set[dt.date] = set()
    if has_rollups(con):
        state = {
            r[0]
            for r in con.execute(
                "SELECT day FROM rollup_state WHERE day BETWEEN ? AND ?", [since.date(), until.date()]
            ).fetchall()
        }
    rolled: list[dt.date] = []
    raw: list[tuple[dt.datetime, dt.datetime]] = []
    day = since.date()
    while _midnight(day) < until:
        lo, hi = _midnight(day), _midnight(day + dt.timedelta(days=1))
        if day in state and since <= lo and hi <= until:
            rolled.append(day)
        else:
            a, b = max(lo, since), min(hi, until)
            if raw and raw[-1][1] == a:
                raw[-1] = (raw[-1][0], b)
            else:
                raw.append((a, b))
        day += dt.timedelta(days=1)
    return Coverage(rolled, raw)


def daily(con: duckdb.DuckDBPyConnection, q: Query, table: str, sql: str) -> tuple[str, list[Any]]:
    """A SQL relation (and its parameters) of `table`'s rows for the query's range.

    `table` must be a rollup table and `sql` the aggregate query that fills it (constants only).
    The query's ecosystem filter and its `all_sources` switch are applied here, once for every
    insight: rows of a `SCOPED` table come in both scopes (pick one; rows stored before scopes
    existed have none and count in both), other tables' rows are split by `automated` (NULL:
    stored before the split, counted as people).
    """
    cov = coverage(con, q)
    parts: list[str] = []
    params: list[Any] = []
    if cov.rolled:
        parts.append(
            f"SELECT * FROM {table} WHERE day BETWEEN ? AND ? AND list_contains(?::DATE[], day)"  # noqa: S608
        )
        params += [cov.rolled[0], cov.rolled[-1], cov.rolled]
    for start, end in cov.raw or ([] if cov.rolled else [(_utc(q.since), _utc(q.since))]):
        parts.append(sql)
        params += [start, end]
    union = " UNION ALL BY NAME ".join(f"({p})" for p in parts)
    if table in SCOPED:
        scope = "scope IS DISTINCT FROM " + ("'people'" if q.all_sources else "'all'")
    else:
        scope = "true" if q.all_sources else "automated IS NOT TRUE"
    if q.ecosystem is None:
        return f"SELECT * FROM ({union}) WHERE {scope}", params  # noqa: S608
    sql = f"SELECT * FROM ({union}) WHERE {scope} AND coalesce(ecosystem, 'python') = ?::VARCHAR"  # noqa: S608
    return sql, [*params, q.ecosystem]
