"""Breakdowns: downloads and sources per installer, Python, OS, CPU, country, network, CI, version.

Definitions (also in docs/insights.md):
- `by` is one of `DIMENSIONS`; `python` is the major.minor of the interpreter, `installer_version`
  is "installer version" (e.g. "pip 24.0"), `ci` is "true"/"false" (the User-Agent's CI flag);
- value NULL: the client did not say (or the dimension does not apply, e.g. `distro` on Windows);
- downloads and installs as in `downloads`; requests are all requests; sources are distinct daily source ids
  with a request carrying that value, summed over days (see `uniques`);
- share: the value's downloads / all downloads of the rows returned (per day with `over_time`).
"""

from __future__ import annotations

import datetime as dt
from typing import Final

import duckdb
import msgspec

from pkgate.errors import PkgateError
from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import DIMENSIONS as _DIMS
from pkgate.store.aggregates import breakdown_sql

DIMENSIONS: Final = tuple(_DIMS)


class BreakdownRow(msgspec.Struct):
    day: dt.date | None
    dimension: str
    value: str | None
    downloads: int
    installs: int
    requests: int
    sources: int
    share: float


def breakdown(
    con: duckdb.DuckDBPyConnection, q: Query, by: str, over_time: bool = False
) -> list[BreakdownRow]:
    """Downloads, requests and sources per value of `by` (per day too with `over_time`)."""
    if by not in _DIMS:
        raise PkgateError(f"breakdown: unknown dimension {by!r}; expected one of {', '.join(DIMENSIONS)}")
    rel, params = daily(con, q, "rollup_breakdown", breakdown_sql((by,)))
    day = "day" if over_time else "NULL::DATE"
    rows = con.execute(
        f"""WITH b AS (
          SELECT {day} AS day, value, sum(downloads) AS downloads, coalesce(sum(installs), 0) AS installs,
            sum(requests) AS requests, sum(sources) AS sources
          FROM ({rel}) WHERE dim = ? AND project IS NOT DISTINCT FROM ?::VARCHAR
          GROUP BY ALL)
        SELECT day, value, downloads, installs, requests, sources,
          CASE WHEN sum(downloads) OVER (PARTITION BY day) > 0
            THEN round(downloads / sum(downloads) OVER (PARTITION BY day), 4) ELSE 0.0 END
        FROM b ORDER BY day NULLS FIRST, downloads DESC, requests DESC, value NULLS LAST""",  # noqa: S608
        [*params, by, q.project],
    ).fetchall()
    return [
        BreakdownRow(r[0], by, r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5]), float(r[6])) for r in rows
    ]
