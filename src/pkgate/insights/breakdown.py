"""Breakdowns: downloads and sources per installer, Python, OS, CPU, country, network, CI, version.

Definitions (also in docs/insights.md):
- `by` is one of `DIMENSIONS`; `python` is the major.minor of the interpreter, `installer_version`
  is "installer version" (e.g. "pip 24.0"), `ci` is "true"/"false" (the User-Agent's CI flag),
  `ci_signal` says which CI signals a request carried ("user-agent", "address" in a CI provider's
  published range, "both", "none"), `connection` is the connection type of the request's ASN
  (`pkgate.enrich.networks.CONNECTION_TYPES`, from the bundled network database; NULL: no ASN or
  an ASN the database does not type);
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

from pkgate.enrich.networks import connection_of_asn
from pkgate.errors import PkgateError
from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import DIMENSIONS as _DIMS
from pkgate.store.aggregates import breakdown_sql

#: `connection` is derived from the `asn` rows (one ASN per source-day, so sums stay exact).
DIMENSIONS: Final = (*_DIMS, "connection")


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
    if by == "connection":
        return _connection(con, q, over_time)
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


def _connection(con: duckdb.DuckDBPyConnection, q: Query, over_time: bool) -> list[BreakdownRow]:
    """The `asn` breakdown regrouped by each ASN's connection type.

    Exact for every column: a source-day has one address, so one ASN and one connection type.
    """
    sums: dict[tuple[dt.date | None, str | None], list[int]] = {}
    for r in breakdown(con, q, "asn", over_time):
        kind = connection_of_asn(int(r.value)) if r.value is not None else None
        acc = sums.setdefault((r.day, kind), [0, 0, 0, 0])
        for i, n in enumerate((r.downloads, r.installs, r.requests, r.sources)):
            acc[i] += n
    per_day: dict[dt.date | None, int] = {}
    for (day, _), acc in sums.items():
        per_day[day] = per_day.get(day, 0) + acc[0]
    rows = [
        BreakdownRow(
            day,
            "connection",
            kind,
            acc[0],
            acc[1],
            acc[2],
            acc[3],
            round(acc[0] / per_day[day], 4) if per_day[day] else 0.0,
        )
        for (day, kind), acc in sums.items()
    ]
    rows.sort(key=lambda r: (r.day or dt.date.min, -r.downloads, -r.requests, r.value is None, r.value or ""))
    return rows
