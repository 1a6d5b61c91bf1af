"""Every insight, once: the list the CLI topics, the API routes, OpenAPI and the dashboard come from.

Adding an insight is adding one `Insight` here (and its function and row type in its own module).
"""

from __future__ import annotations

from typing import Final

import duckdb
import msgspec

from pkgate.insights.adoption import PERIODS as ADOPTION_PERIODS
from pkgate.insights.adoption import AdoptionRow, FirstSeenRow, adoption, first_seen
from pkgate.insights.behaviour import CLASSES, BehaviourRow, BehaviourSummaryRow, behaviour, behaviour_summary
from pkgate.insights.breakdown import DIMENSIONS, BreakdownRow, breakdown
from pkgate.insights.deps import AlongsideRow, DependencyRow, PulledRow, alongside, dependencies, pulled_in_by
from pkgate.insights.downloads import DailyRow, DownloadRow, downloads, downloads_daily
from pkgate.insights.heavy_hitters import (
    MAX_FILE_PER_DAY,
    ConcentrationRow,
    HeavyHitterRow,
    concentration,
    heavy_hitters,
)
from pkgate.insights.query import Query
from pkgate.insights.reach import (
    CurveRow,
    ExtentRow,
    VersionCountryRow,
    extent,
    release_curves,
    version_country,
)
from pkgate.insights.spec import Args, Insight, boolean, check_unique, choice, integer, people
from pkgate.insights.uniques import LEVELS, PERIODS, UniqueRow, uniques

__all__ = ["INSIGHTS", "ProjectRow", "by_name", "by_topic", "projects"]


class ProjectRow(msgspec.Struct):
    """A project with any request in the range (the dashboard's project picker)."""

    project: str
    downloads: int
    installs: int
    requests: int
    ecosystem: str = "python"


def projects(con: duckdb.DuckDBPyConnection, q: Query, limit: int = 100) -> list[ProjectRow]:
    """Projects with requests in the range, most downloaded first; `q.project` is ignored."""
    totals: dict[tuple[str, str], list[int]] = {}
    for r in downloads(con, msgspec.structs.replace(q, project=None)):
        t = totals.setdefault((r.ecosystem, r.project), [0, 0, 0])
        t[0] += r.downloads
        t[1] += r.installs
        t[2] += r.downloads + r.index_hits + r.not_modified + r.head + r.metadata + r.failed
    rows = [ProjectRow(name, d, i, n, eco) for (eco, name), (d, i, n) in totals.items()]
    rows.sort(key=lambda r: (-r.downloads, -r.requests, r.project, r.ecosystem))
    return rows[:limit]


def _breakdown(con: duckdb.DuckDBPyConnection, q: Query, a: Args) -> list[BreakdownRow]:
    return breakdown(con, q, a["by"], over_time=a["over_time"])


INSIGHTS: Final[tuple[Insight, ...]] = (
    people(
        name="projects",
        title="Projects by downloads",
        summary="Projects with requests in the range, most downloaded first (`project` is ignored).",
        row=ProjectRow,
        run=lambda c, q, a: projects(c, q, a["limit"]),
        params=(integer("limit", "At most this many rows.", 100, 1, 10_000),),
    ),
    people(
        name="downloads",
        title="Downloads and attempts per project/version",
        summary="Downloads vs attempts (index hits, 304s, HEAD, metadata, failures) per project and version.",
        row=DownloadRow,
        run=lambda c, q, a: downloads(c, q),
    ),
    people(
        name="downloads_daily",
        title="Downloads and attempts per day",
        summary="Downloads vs attempts per UTC day, project and version (days without requests have no row).",
        row=DailyRow,
        run=lambda c, q, a: downloads_daily(c, q),
    ),
    people(
        name="uniques",
        title="Unique sources (daily ids; weeks/months sum their days)",
        summary="Distinct sources per period, at the client or network level, and downloads per source.",
        row=UniqueRow,
        run=lambda c, q, a: uniques(c, q, a["level"], a["period"]),
        params=(
            choice("level", "Count clients (addresses) or networks (/24, /48).", LEVELS, "client"),
            choice("period", "Length of each period.", PERIODS, "day"),
        ),
    ),
    Insight(
        name="behaviour",
        title="Behaviour class per source and day",
        summary=f"Behaviour class of each source per day and project ({', '.join(CLASSES)}).",
        row=BehaviourRow,
        run=lambda c, q, a: behaviour(c, q, limit=a["limit"]),
        params=(integer("limit", "At most this many rows.", 1000, 1, 100_000),),
    ),
    Insight(
        name="behaviour_summary",
        title="Sources per behaviour class and day",
        summary="Sources, requests and downloads per behaviour class and day.",
        row=BehaviourSummaryRow,
        run=lambda c, q, a: behaviour_summary(c, q),
    ),
    Insight(
        name="heavy_hitters",
        title="Top sources (source-days) by downloads; aggressive ones flagged",
        summary="Top sources by downloads per day, with their share and a flag for overly aggressive ones.",
        row=HeavyHitterRow,
        run=lambda c, q, a: heavy_hitters(c, q, a["top"], a["max_file_per_day"]),
        params=(
            integer("top", "How many top sources.", 20, 1, 1000),
            integer(
                "max_file_per_day",
                "Downloads of one file by one source in a day above which it is flagged.",
                MAX_FILE_PER_DAY,
                1,
                1_000_000,
            ),
        ),
    ),
    Insight(
        name="concentration",
        title="Share of downloads by the top 2/10/20 source-days",
        summary="Share of all downloads taken by the top 2, 10 and 20 sources.",
        row=ConcentrationRow,
        run=lambda c, q, a: concentration(c, q),
    ),
    people(
        name="breakdown",
        title="Breakdown",
        summary="Downloads, requests and sources per value of one dimension (installer, Python, OS, country, ...).",
        row=BreakdownRow,
        run=_breakdown,
        params=(
            choice("by", "The dimension.", DIMENSIONS, None),
            boolean("over_time", "One row per day and value (default: totals over the range)."),
        ),
    ),
    people(
        name="adoption",
        title="Version adoption (share of downloads)",
        summary="Share of each version in a project's downloads, per day or week.",
        row=AdoptionRow,
        run=lambda c, q, a: adoption(c, q, a["period"]),
        params=(choice("period", "Length of each period.", ADOPTION_PERIODS, "day"),),
    ),
    people(
        name="first_seen",
        title="First day each version was requested and downloaded",
        summary="When each version was first requested and first downloaded, and the lag between them.",
        row=FirstSeenRow,
        run=lambda c, q, a: first_seen(c, q),
    ),
    Insight(
        name="extent",
        title="First and last day with data",
        summary="The first and last UTC day with any stored request (`since` is ignored): the dashboard's default range.",
        row=ExtentRow,
        run=lambda c, q, a: extent(c, q),
    ),
    people(
        name="version_country",
        title="Unique sources by version and country",
        summary="Summed daily distinct sources and downloaders, downloads and installs per version and country.",
        row=VersionCountryRow,
        run=lambda c, q, a: version_country(c, q),
    ),
    people(
        name="dependencies",
        title="Installs as a root vs as a dependency",
        summary="Per project: installs in resolver sessions as a root (asked for) or a dependency (required "
        "by another project installed in the same session, from the Requires-Dist of the versions fetched).",
        row=DependencyRow,
        run=lambda c, q, a: dependencies(c, q),
    ),
    people(
        name="pulled_in_by",
        title="Root projects that pull each project in",
        summary="Per project: the roots of the sessions that installed it as a dependency, directly or transitively.",
        row=PulledRow,
        run=lambda c, q, a: pulled_in_by(c, q, a["top"]),
        params=(integer("top", "At most this many roots per project.", 10, 1, 1000),),
    ),
    people(
        name="alongside",
        title="Projects installed alongside",
        summary="Per project: the names installed or asked for (also those the gateway does not serve, "
        "with --extra-index-url) in the same sessions.",
        row=AlongsideRow,
        run=lambda c, q, a: alongside(c, q, a["top"]),
        params=(integer("top", "At most this many names per project.", 10, 1, 1000),),
    ),
    people(
        name="release_curves",
        title="Adoption after each release",
        summary="Each version's share of the project's downloads by days since it was first seen.",
        row=CurveRow,
        run=lambda c, q, a: release_curves(c, q, a["days"]),
        params=(integer("days", "Days after the first request for the version.", 30, 1, 366),),
    ),
)
check_unique(INSIGHTS)

_BY_NAME: Final = {i.name: i for i in INSIGHTS}
_BY_TOPIC: Final = {i.topic: i for i in INSIGHTS}


def by_name(name: str) -> Insight | None:
    return _BY_NAME.get(name)


def by_topic(topic: str) -> Insight | None:
    """The insight of a CLI topic; the API name (underscores) is accepted too."""
    return _BY_TOPIC.get(topic) or _BY_NAME.get(topic)
