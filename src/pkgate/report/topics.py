"""`pkgate report <topic>`: topic name -> insight call, row type and title.

One table of topics so the CLI stays thin and the set of topics is listed in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

import duckdb
import msgspec

from pkgate import insights as ins
from pkgate.errors import PkgateError


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """Topic-specific options; each topic reads the ones it needs."""

    by: str | None = None
    over_time: bool = False
    level: Literal["client", "network"] = "client"
    period: Literal["day", "week", "month"] = "day"
    top: int = 20
    limit: int = 1000
    max_file_per_day: int = 24


class Topic(msgspec.Struct, frozen=True):
    title: str
    row: type[msgspec.Struct]
    run: Callable[[duckdb.DuckDBPyConnection, ins.Query, Options], Sequence[Any]]


def _breakdown(con: duckdb.DuckDBPyConnection, q: ins.Query, o: Options) -> Sequence[Any]:
    if o.by is None:
        raise PkgateError(f"breakdown needs --by, one of {', '.join(ins.DIMENSIONS)}")
    return ins.breakdown(con, q, o.by, over_time=o.over_time)


def _adoption(con: duckdb.DuckDBPyConnection, q: ins.Query, o: Options) -> Sequence[Any]:
    if o.period == "month":
        raise PkgateError("adoption: --period must be day or week")
    return ins.adoption(con, q, o.period)


TOPICS: Final[dict[str, Topic]] = {
    "downloads": Topic(
        "Downloads and attempts per project/version", ins.DownloadRow, lambda c, q, o: ins.downloads(c, q)
    ),
    "daily": Topic("Downloads and attempts per day", ins.DailyRow, lambda c, q, o: ins.downloads_daily(c, q)),
    "uniques": Topic(
        "Unique sources (daily ids; weeks/months sum their days)",
        ins.UniqueRow,
        lambda c, q, o: ins.uniques(c, q, o.level, o.period),
    ),
    "behaviour": Topic(
        "Behaviour class per source and day",
        ins.BehaviourRow,
        lambda c, q, o: ins.behaviour(c, q, limit=o.limit),
    ),
    "behaviour-summary": Topic(
        "Sources per behaviour class and day",
        ins.BehaviourSummaryRow,
        lambda c, q, o: ins.behaviour_summary(c, q),
    ),
    "heavy-hitters": Topic(
        "Top sources (source-days) by downloads; aggressive ones flagged",
        ins.HeavyHitterRow,
        lambda c, q, o: ins.heavy_hitters(c, q, k=o.top, max_file_per_day=o.max_file_per_day),
    ),
    "concentration": Topic(
        "Share of downloads by the top 2/10/20 source-days",
        ins.ConcentrationRow,
        lambda c, q, o: ins.concentration(c, q),
    ),
    "breakdown": Topic("Breakdown", ins.BreakdownRow, _breakdown),
    "adoption": Topic("Version adoption (share of downloads)", ins.AdoptionRow, _adoption),
    "first-seen": Topic(
        "First day each version was requested and downloaded",
        ins.FirstSeenRow,
        lambda c, q, o: ins.first_seen(c, q),
    ),
}


def columns(topic: str) -> list[str]:
    return [f.name for f in msgspec.structs.fields(TOPICS[topic].row)]
