"""Behaviour classes: what kind of client a source is, from the time series of its requests.

Unit: one source id, one project, one UTC day (ids rotate daily). Its requests are cut into
*runs* (bursts less than 60 s apart: one `pip install` is one run); the features below are
computed from the runs, by SQL in the store (`pkgate.store.aggregates.sources_sql`) and by
`features()` here for a plain list of requests. The rules are evaluated in order, first match wins;
they exist once, as data (`rules()`), interpreted by `classify_features` in Python and compiled to
a SQL CASE by `class_sql`, and tests check both agree:

1. `mirror`    — the User-Agent is a mirror (bandersnatch, devpi, Nexus, ...), or the source
                 walks projects and versions systematically whatever it claims to be: at least
                 `mirror_projects` projects that day, or downloads from at least `walk_projects`
                 projects with on average at least `walk_files` distinct files of each (an install
                 takes one file per project, a mirror or a scanner takes every file);
1b. `bot`      — the User-Agent is a crawler or scanner, or the source probes names: at least
                 `probe_projects` projects of which at least `probe_missing` answered 404;
2. `polling`   — production or CI polling: at least `poll_min_runs` runs, regular gaps between
                 runs (`regularity` >= `poll_regularity`: share of gaps within 20% of a whole
                 multiple of the median gap, so jitter and missed polls stay regular), mostly 304s
                 (`revalidated` = 304s / requests >= `poll_revalidated`), at most
                 `poll_max_versions` version downloaded;
3. `ci`        — CI builds: the `ci` flag of the User-Agent or a CI provider's address range;
                 or regular runs where most runs download afresh (`fresh` >= `ci_fresh`);
4. `one-off`   — at most `oneoff_max_runs` runs;
5. `developer` — the rest: three or more irregular runs, typically several versions.

Reports leave the source-days that are mirrors, bots or CI out by default (`automated`:
the rules of those classes that look at the whole source-day, `pkgate.store.classes.automated_rules`).

Working hours are not a rule: the store has UTC times only, and a client's time zone is unknown.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections.abc import Sequence
from typing import Any

import duckdb
import msgspec

from pkgate.events.model import is_download
from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import CI_CLOUDS, REGULAR_TOLERANCE, RUN_GAP_S, behaviour_sql, sources_sql
from pkgate.store.classes import (
    CLASSES,
    EXCLUDED,
    Features,
    Thresholds,
    class_sql,
    classify_features,
    is_automated,
    rules,
)

__all__ = [
    "CLASSES",
    "EXCLUDED",
    "BehaviourRow",
    "BehaviourSummaryRow",
    "Features",
    "Request",
    "Thresholds",
    "automated",
    "behaviour",
    "behaviour_summary",
    "class_sql",
    "classify",
    "classify_features",
    "features",
    "is_automated",
    "rules",
]


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """One request of a source, as much of an event as the classifier needs."""

    ts: dt.datetime
    status: int
    kind: str = "index-project"
    method: str = "GET"
    project: str | None = None
    version: str | None = None
    filename: str | None = None
    ua_category: str | None = None
    ci: bool = False
    cloud: str | None = None

    @property
    def download(self) -> bool:
        return is_download(self.kind, self.method, self.status)


def features(series: Sequence[Request], projects: int | None = None) -> Features:
    """The features of one source's requests (same definitions as the store's SQL)."""
    reqs = sorted(series, key=lambda r: r.ts)
    starts: list[dt.datetime] = []
    run_dl: list[bool] = []
    prev: dt.datetime | None = None
    for r in reqs:
        if prev is None or (r.ts - prev).total_seconds() > RUN_GAP_S:
            starts.append(r.ts)
            run_dl.append(False)
        run_dl[-1] = run_dl[-1] or r.download
        prev = r.ts
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    regularity = cv = None
    if gaps:
        med = statistics.median(gaps)
        if med > 0:
            regularity = sum(
                1.0
                for g in gaps
                if round(g / med) >= 1 and abs(g / med - round(g / med)) <= REGULAR_TOLERANCE
            ) / len(gaps)
        mean = statistics.fmean(gaps)
        if len(gaps) >= 2 and mean > 0:
            cv = statistics.pstdev(gaps) / mean
    return Features(
        requests=len(reqs),
        runs=len(starts),
        download_runs=sum(run_dl),
        downloads=sum(r.download for r in reqs),
        not_modified=sum(r.status == 304 for r in reqs),
        versions=len({r.version for r in reqs if r.download and r.version is not None}),
        projects=projects if projects is not None else len({r.project for r in reqs if r.project}),
        mirror_ua=any(r.ua_category == "mirror" for r in reqs),
        ci=any(r.ci or r.cloud in CI_CLOUDS for r in reqs),
        regularity=regularity,
        cv=cv,
        bot_ua=any(r.ua_category == "bot" for r in reqs),
        download_projects=len({r.project for r in reqs if r.download and r.project}),
        files=len({r.filename for r in reqs if r.download and r.filename}),
        missing=len({r.project for r in reqs if r.status == 404 and r.project}),
    )


def classify(series: Sequence[Request], t: Thresholds = Thresholds()) -> str:  # noqa: B008
    """The behaviour class of one source's requests of one day."""
    return classify_features(features(series), t)


def automated(series: Sequence[Request], t: Thresholds = Thresholds()) -> bool:  # noqa: B008
    """Whether reports leave this source-day out by default: a mirror, a bot or CI."""
    return is_automated(features(series), t)


class BehaviourRow(msgspec.Struct):
    day: dt.date
    project: str
    source_id: str
    behaviour: str
    requests: int
    runs: int
    downloads: int
    installs: int
    not_modified: int
    versions: int
    projects: int
    regularity: float | None
    cv: float | None


class BehaviourSummaryRow(msgspec.Struct):
    day: dt.date
    behaviour: str
    sources: int
    requests: int
    downloads: int
    installs: int


def _classified(con: duckdb.DuckDBPyConnection, q: Query, t: Thresholds) -> tuple[str, list[Any]]:
    """Per (day, project, source) rows with `behaviour` under thresholds `t` (stored for defaults)."""
    rel, params = daily(con, q, "rollup_sources", sources_sql())
    cls = "" if t == Thresholds() else f" REPLACE ({class_sql(t)} AS behaviour)"
    sql = f"SELECT *{cls} FROM ({rel}) WHERE ?::VARCHAR IS NULL OR project = ?::VARCHAR"  # noqa: S608
    return sql, [*params, q.project, q.project]


def behaviour(
    con: duckdb.DuckDBPyConnection,
    q: Query,
    thresholds: Thresholds = Thresholds(),  # noqa: B008
    limit: int | None = 1000,
) -> list[BehaviourRow]:
    """Behaviour class per (day, project, source), busiest sources of each day first."""
    sql, params = _classified(con, q, thresholds)
    rows = con.execute(
        "SELECT day, project, source_id, behaviour, requests, runs, downloads, coalesce(installs, 0), "  # noqa: S608
        "not_modified, versions, "
        f"projects, round(regularity, 3), round(cv, 3) FROM ({sql}) "
        "ORDER BY day, requests DESC, project, source_id LIMIT ?",
        [*params, limit if limit is not None else 2**62],
    ).fetchall()
    return [BehaviourRow(*r) for r in rows]


def behaviour_summary(
    con: duckdb.DuckDBPyConnection,
    q: Query,
    thresholds: Thresholds = Thresholds(),  # noqa: B008
) -> list[BehaviourSummaryRow]:
    """Per (day, class): distinct sources, their requests and downloads (a source can show two
    classes on two projects; it then counts in both). Default thresholds read a pre-aggregated rollup."""
    if thresholds == Thresholds():
        rel, params = daily(con, q, "rollup_behaviour", behaviour_sql(sources_sql()))
        sql = f"SELECT * FROM ({rel}) WHERE project IS NOT DISTINCT FROM ?::VARCHAR"  # noqa: S608
        params.append(q.project)
        agg = "sum(sources), sum(requests), sum(downloads), coalesce(sum(installs), 0)"
    else:
        sql, params = _classified(con, q, thresholds)
        agg = "count(DISTINCT source_id), sum(requests), sum(downloads), coalesce(sum(installs), 0)"
    rows = con.execute(
        f"SELECT day, behaviour, {agg} FROM ({sql}) GROUP BY ALL ORDER BY day, behaviour",  # noqa: S608
        params,
    ).fetchall()
    return [BehaviourSummaryRow(r[0], r[1], *(int(x) for x in r[2:6])) for r in rows]
