"""The analytics endpoints: one entry per insight, the single list the API and OpenAPI are built from.

Each entry names the insight function, the row type it returns (its JSON schema goes into the OpenAPI
document) and the parameters beyond the common `since`/`until`/`project`. Adding an insight to the API
is adding one `Endpoint` here; the handler validates every parameter before any query runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, cast

import duckdb
import msgspec

from pkgate import insights
from pkgate.insights import Query
from pkgate.web.params import parse_bool, parse_choice, parse_int

__all__ = ["ENDPOINTS", "Endpoint", "ExtraParam", "ProjectRow"]

Params = Mapping[str, str]
Runner = Callable[[duckdb.DuckDBPyConnection, Query, Params], Sequence[Any]]
Checker = Callable[[Params], object]


class ExtraParam(NamedTuple):
    """A query parameter specific to one endpoint: documented in OpenAPI, checked before querying."""

    name: str
    description: str
    schema: dict[str, Any]
    check: Checker
    required: bool = False


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


def _int(name: str, description: str, default: int, low: int, high: int) -> ExtraParam:
    return ExtraParam(
        name,
        f"{description} Default {default}.",
        {"type": "integer", "minimum": low, "maximum": high, "default": default},
        lambda p: parse_int(p, name, default, low, high),
    )


def _choice(name: str, description: str, choices: Sequence[str], default: str | None) -> ExtraParam:
    schema: dict[str, Any] = {"type": "string", "enum": list(choices)}
    if default is not None:
        schema["default"] = default
    return ExtraParam(
        name, description, schema, lambda p: parse_choice(p, name, choices, default), required=default is None
    )


_LIMIT = _int("limit", "At most this many rows.", 100, 1, 10_000)
_OVER_TIME = ExtraParam(
    "over_time", "One row per day and value (default: totals over the range).", {"type": "boolean"},
    lambda p: parse_bool(p, "over_time"),
)  # fmt: skip


def _projects(con: duckdb.DuckDBPyConnection, q: Query, p: Params) -> list[ProjectRow]:
    totals: dict[str, list[int]] = {}
    for r in insights.downloads(con, msgspec.structs.replace(q, project=None)):
        t = totals.setdefault(r.project, [0, 0])
        t[0] += r.downloads
        t[1] += r.downloads + r.index_hits + r.not_modified + r.head + r.metadata + r.failed
    rows = [ProjectRow(name, d, n) for name, (d, n) in totals.items()]
    rows.sort(key=lambda r: (-r.downloads, -r.requests, r.project))
    return rows[: parse_int(p, "limit", 100, 1, 10_000)]


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
        lambda con, q, p: insights.downloads(con, q),
    ),
    Endpoint(
        "downloads_daily",
        "Downloads vs attempts per UTC day, project and version (days without requests have no row).",
        insights.DailyRow,
        lambda con, q, p: insights.downloads_daily(con, q),
    ),
    Endpoint(
        "uniques",
        "Distinct sources per period, at the client or network level, and downloads per source.",
        insights.UniqueRow,
        lambda con, q, p: insights.uniques(
            con,
            q,
            cast(Any, parse_choice(p, "level", insights.LEVELS, "client")),
            cast(Any, parse_choice(p, "period", insights.PERIODS, "day")),
        ),
        (
            _choice("level", "Count clients (addresses) or networks (/24, /48).", insights.LEVELS, "client"),
            _choice("period", "Length of each period.", insights.PERIODS, "day"),
        ),
    ),
    Endpoint(
        "behaviour",
        f"Behaviour class of each source per day and project ({', '.join(insights.CLASSES)}).",
        insights.BehaviourRow,
        lambda con, q, p: insights.behaviour(con, q, limit=parse_int(p, "limit", 1000, 1, 100_000)),
        (_int("limit", "At most this many rows.", 1000, 1, 100_000),),
    ),
    Endpoint(
        "behaviour_summary",
        "Sources, requests and downloads per behaviour class and day.",
        insights.BehaviourSummaryRow,
        lambda con, q, p: insights.behaviour_summary(con, q),
    ),
    Endpoint(
        "heavy_hitters",
        "Top sources by downloads per day, with their share and a flag for overly aggressive ones.",
        insights.HeavyHitterRow,
        lambda con, q, p: insights.heavy_hitters(
            con, q, parse_int(p, "k", 20, 1, 1000), parse_int(p, "max_file_per_day", 24, 1, 1_000_000)
        ),
        (
            _int("k", "How many top sources.", 20, 1, 1000),
            _int(
                "max_file_per_day",
                "Downloads of one file by one source in a day above which it is flagged.",
                24,
                1,
                1_000_000,
            ),
        ),
    ),
    Endpoint(
        "concentration",
        "Share of all downloads taken by the top 2, 10 and 20 sources.",
        insights.ConcentrationRow,
        lambda con, q, p: insights.concentration(con, q),
    ),
    Endpoint(
        "breakdown",
        "Downloads, requests and sources per value of one dimension (installer, Python, OS, country, ...).",
        insights.BreakdownRow,
        lambda con, q, p: insights.breakdown(
            con, q, parse_choice(p, "by", insights.DIMENSIONS, None), parse_bool(p, "over_time")
        ),
        (_choice("by", "The dimension.", insights.DIMENSIONS, None), _OVER_TIME),
    ),
    Endpoint(
        "adoption",
        "Share of each version in a project's downloads, per day or week.",
        insights.AdoptionRow,
        lambda con, q, p: insights.adoption(
            con, q, cast(Any, parse_choice(p, "period", ("day", "week"), "day"))
        ),
        (_choice("period", "Length of each period.", ("day", "week"), "day"),),
    ),
    Endpoint(
        "first_seen",
        "When each version was first requested and first downloaded, and the lag between them.",
        insights.FirstSeenRow,
        lambda con, q, p: insights.first_seen(con, q),
    ),
)
