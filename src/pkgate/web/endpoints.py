"""The analytics endpoints: one entry per insight, the single list the API and OpenAPI are built from.

Each entry names the insight function, the row type it returns (its JSON schema goes into the OpenAPI
document) and any parameters beyond the common `since`/`until`/`project`. Adding an insight to the API
is adding one `Endpoint` here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import duckdb
import msgspec

from pkgate import insights
from pkgate.insights import Query
from pkgate.web.params import ParamError, parse_int

__all__ = ["ENDPOINTS", "DayRow", "Endpoint", "ExtraParam", "ProjectRow"]

MAX_DAILY_DAYS = 400

Runner = Callable[[duckdb.DuckDBPyConnection, Query, Mapping[str, str]], Sequence[Any]]


class ExtraParam(NamedTuple):
    """A query parameter specific to one endpoint (documented in OpenAPI)."""

    name: str
    description: str
    schema: dict[str, Any]


class Endpoint(NamedTuple):
    name: str  # served at /api/<name>
    summary: str
    row_type: type[msgspec.Struct]
    run: Runner
    params: tuple[ExtraParam, ...] = ()


class ProjectRow(msgspec.Struct):
    """A project with any request in the range (the dashboard's project picker)."""

    project: str
    downloads: int
    requests: int


def _projects(con: duckdb.DuckDBPyConnection, q: Query, params: Mapping[str, str]) -> list[ProjectRow]:
    totals: dict[str, list[int]] = {}
    for r in insights.downloads(con, msgspec.structs.replace(q, project=None)):
        t = totals.setdefault(r.project, [0, 0])
        t[0] += r.downloads
        t[1] += r.downloads + r.index_hits + r.not_modified + r.head + r.metadata + r.failed
    rows = [ProjectRow(p, d, n) for p, (d, n) in totals.items()]
    rows.sort(key=lambda r: (-r.downloads, -r.requests, r.project))
    return rows[: parse_int(params, "limit", 100, 1, 10_000)]


class DayRow(msgspec.Struct):
    """Downloads vs attempts on one UTC day (definitions as in `/api/downloads`)."""

    day: dt.date
    downloads: int
    index_hits: int
    not_modified: int
    head: int
    metadata: int
    failed: int


def _daily(con: duckdb.DuckDBPyConnection, q: Query, params: Mapping[str, str]) -> list[DayRow]:
    # Interim: one `downloads` query per day, until insights grows a daily rollup.
    if q.until - q.since > dt.timedelta(days=MAX_DAILY_DAYS):
        raise ParamError("since", f"daily series cover at most {MAX_DAILY_DAYS} days")
    out: list[DayRow] = []
    day = q.since.date()
    while dt.datetime.combine(day, dt.time(), dt.UTC) < q.until:
        start = max(q.since, dt.datetime.combine(day, dt.time(), dt.UTC))
        end = min(q.until, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC))
        rows = insights.downloads(con, msgspec.structs.replace(q, since=start, until=end))
        out.append(DayRow(day, *(sum(getattr(r, f) for r in rows) for f in DayRow.__struct_fields__[1:])))
        day += dt.timedelta(days=1)
    return out


def _downloads(con: duckdb.DuckDBPyConnection, q: Query, params: Mapping[str, str]) -> Sequence[Any]:
    return insights.downloads(con, q)


_LIMIT = ExtraParam("limit", "At most this many rows.", {"type": "integer", "minimum": 1, "maximum": 10000})

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "projects",
        "Projects with requests in the range, most downloaded first (`project` is ignored).",
        ProjectRow,
        _projects,
        (_LIMIT,),
    ),
    Endpoint(
        "downloads",
        "Downloads vs attempts (index hits, 304s, HEAD, metadata, failures) per project and version.",
        insights.DownloadRow,
        _downloads,
    ),
    Endpoint(
        "downloads_daily",
        "Downloads vs attempts per UTC day (every day of the range, zeros included).",
        DayRow,
        _daily,
    ),
)
