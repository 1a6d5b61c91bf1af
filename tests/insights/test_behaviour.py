"""Behaviour classes from synthetic series (the issue's two django tables, noisy variants), the
Python and SQL evaluations of the rules agreeing, and classes over a real store."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgate.insights import CLASSES, Features, Query, Request, Thresholds, behaviour, behaviour_summary
from pkgate.insights.behaviour import (
    class_sql,
    classify,
    classify_features,
    features,
    is_automated,
)
from pkgate.store import ensure_schema, insert_events
from pkgate.store.aggregates import sources_sql
from pkgate.store.classes import automated_sql
from tests.insights.data import ALL, D1, D3, MODES, build, ev

DAY = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def series(text: str, **kw: Any) -> list[Request]:
    """`HH:MM[:SS] STATUS [PATH]` items. A file answered "200" in the issue's notation is a download,
    which the gateway records as its 302 redirect; a bare 304 is an index revalidation."""
    out = []
    for m in re.finditer(r"(\d\d):(\d\d)(?::(\d\d))? (\d{3})(?: ([^\s\d]\S*))?", text):
        ts = DAY + dt.timedelta(hours=int(m[1]), minutes=int(m[2]), seconds=int(m[3] or 0))
        status, path = int(m[4]), m[5] or "/simple/django/"
        if path.startswith("/simple/"):
            out.append(Request(ts=ts, status=status, project="django", **kw))
        else:
            version = path.split("-")[1].removesuffix(".whl")
            out.append(
                Request(
                    ts=ts,
                    status=302 if status == 200 else status,
                    kind="file",
                    project="django",
                    version=version,
                    filename=path,
                    **kw,
                )
            )
    return out


POLLING = "12:00 200 /simple/django/  12:00 200 Django-4.0.3.whl  12:05 304  12:10 304  12:15 304  12:20 304"
DEVELOPER = (
    "09:00 200 /simple/django/  09:00 200 Django-4.0.3.whl  09:03 304  10:13 304  13:50 200 Django-4.0.0.whl"
)


def test_the_issues_two_tables() -> None:
    assert classify(series(POLLING)) == "polling"
    assert classify(series(DEVELOPER)) == "developer"
    longer = (
        DEVELOPER
        + "  14:02 200 /simple/django/  14:02 200 Django-4.0.3.whl  17:45 304  18:01 200 Django-3.2.0.whl"
    )
    assert classify(series(longer)) == "developer"


@pytest.mark.parametrize(
    "text",
    [
        # jittered intervals
        "12:00 200 /simple/django/ 12:00 200 Django-4.0.3.whl 12:05:20 304 12:09:45 304 12:15:10 304 12:20:30 304",
        # a missed poll
        "12:00 200 /simple/django/ 12:00 200 Django-4.0.3.whl 12:05 304 12:10 304 12:20 304 12:25 304 12:30 304",
        # a one-off download among polls (a cleared cache)
        "12:00 200 /simple/django/ 12:00 200 Django-4.0.3.whl 12:05 304 12:10 304 12:15 200 /simple/django/"
        " 12:15 200 Django-4.0.3.whl 12:20 304 12:25 304 12:30 304",
    ],
)
def test_noisy_polling(text: str) -> None:
    assert classify(series(text)) == "polling"


@given(
    period=st.integers(120, 3600),
    jitter=st.lists(st.floats(-0.04, 0.04), min_size=12, max_size=40),
    missed=st.sets(st.integers(1, 39), max_size=2),
)
def test_polling_survives_jitter_and_missed_polls(period: int, jitter: list[float], missed: set[int]) -> None:
    """Polls every `period` s, each up to 4% early or late, up to two of them missed."""
    reqs = [
        Request(ts=DAY, status=200, project="django"),
        Request(ts=DAY, status=302, kind="file", project="django", version="1.0"),
    ]
    for i, j in enumerate(jitter, start=1):
        if i not in missed:
            reqs.append(
                Request(ts=DAY + dt.timedelta(seconds=period * (i + j)), status=304, project="django")
            )
    assert classify(reqs) == "polling"


def test_other_classes() -> None:
    one = series("09:00 200 /simple/django/ 09:00 200 Django-4.0.3.whl")
    assert classify(one) == "one-off"
    assert classify(series("09:00 200 /simple/django/ 09:00 200 Django-4.0.3.whl", ci=True)) == "ci"
    assert classify(series("09:00 200 Django-4.0.3.whl", cloud="github-actions")) == "ci"
    builds = " ".join(f"{h:02d}:00 200 /simple/django/ {h:02d}:00 200 Django-4.0.3.whl" for h in range(8, 18))
    assert classify(series(builds)) == "ci"  # scheduled builds that download afresh each time
    assert classify(series(POLLING, ua_category="mirror")) == "mirror"
    many = [Request(ts=DAY + dt.timedelta(seconds=i), status=200, project=f"p{i}") for i in range(20)]
    assert classify(many) == "one-off"  # one install of a large environment, not a mirror
    assert classify(many, Thresholds(mirror_projects=20)) == "mirror"
    assert classify([]) == "one-off"


features_st = st.builds(
    Features,
    requests=st.integers(1, 50),
    runs=st.integers(1, 50),
    download_runs=st.integers(0, 50),
    downloads=st.integers(0, 50),
    not_modified=st.integers(0, 50),
    versions=st.integers(0, 4),
    projects=st.integers(1, 30),
    mirror_ua=st.booleans(),
    ci=st.booleans(),
    regularity=st.none() | st.sampled_from([0.0, 0.5, 0.75, 0.8, 1.0]),
    cv=st.none() | st.floats(0, 3),
    bot_ua=st.booleans(),
    download_projects=st.integers(0, 8),
    files=st.integers(0, 30),
    missing=st.integers(0, 30),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fs=st.lists(features_st, min_size=1, max_size=20))
def test_sql_rules_equal_python_rules(fs: list[Features]) -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE f (i INT, requests INT, runs INT, download_runs INT, not_modified INT, "
        "versions INT, projects INT, mirror_ua BOOL, ci BOOL, regularity DOUBLE, bot_ua BOOL, "
        "download_projects INT, files INT, missing INT)"
    )
    con.executemany(
        "INSERT INTO f VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                i,
                f.requests,
                f.runs,
                f.download_runs,
                f.not_modified,
                f.versions,
                f.projects,
                f.mirror_ua,
                f.ci,
                f.regularity,
                f.bot_ua,
                f.download_projects,
                f.files,
                f.missing,
            ]
            for i, f in enumerate(fs)
        ],
    )
    got = con.execute(
        f"SELECT {class_sql()}, {automated_sql()} FROM (SELECT *, not_modified / requests AS revalidated, "  # noqa: S608
        "download_runs / runs AS fresh, CASE WHEN download_projects > 0 THEN files / download_projects END "
        "AS files_per_project, CASE WHEN projects > 0 THEN missing / projects END AS missing_share FROM f) "
        "ORDER BY i"
    ).fetchall()
    assert [g[0] for g in got] == [classify_features(f) for f in fs]
    assert [g[1] for g in got] == [is_automated(f) for f in fs]
    assert {g[0] for g in got} <= set(CLASSES)


request_st = st.builds(
    lambda s, status, kind, v, p: (s, status, kind, v, p),
    st.integers(0, 86_399),
    st.sampled_from([200, 302, 304, 404]),
    st.sampled_from(["index-project", "file", "metadata"]),
    st.sampled_from(["1.0", "2.0", "3.0"]),
    st.sampled_from(["a", "b"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reqs=st.lists(request_st, min_size=1, max_size=40))
def test_store_features_equal_python_features(reqs: list[tuple[int, int, str, str, str]]) -> None:
    con = duckdb.connect()
    ensure_schema(con)
    base = int(DAY.timestamp() * 1_000_000)
    events = [
        ev(base + s * 1_000_000, "src", "net", k, st_, project=p, version=v) for s, st_, k, v, p in reqs
    ]
    insert_events(con, events)
    rows = con.execute(
        f"SELECT project, requests, runs, download_runs, downloads, not_modified, versions, projects, "  # noqa: S608
        f"regularity, cv FROM ({sources_sql()})",
        [DAY, DAY + dt.timedelta(days=1)],
    ).fetchall()
    for r in rows:
        mine = [
            Request(
                ts=DAY + dt.timedelta(seconds=s),
                status=st_,
                kind=k,
                project=p,
                version=v,
                filename=f"{p}-{v}-py3-none-any.whl",
            )
            for s, st_, k, v, p in reqs
            if p == r[0]
        ]
        f = features(mine, projects=len({p for *_, p in reqs}))
        assert (
            f.requests,
            f.runs,
            f.download_runs,
            f.downloads,
            f.not_modified,
            f.versions,
            f.projects,
        ) == r[1:8]
        assert (f.regularity is None) == (r[8] is None)
        assert f.regularity is None or f.regularity == pytest.approx(r[8])
        assert f.cv is None or f.cv == pytest.approx(r[9])


@pytest.mark.parametrize("mode", MODES)
def test_behaviour_over_a_store(mode: str) -> None:
    rows = {(r.day, r.project, r.source_id): r for r in behaviour(build(mode), ALL)}
    assert rows[(D3, "django", "e")].behaviour == "ci"
    assert rows[(D3, "django", "e")].runs == 30
    assert rows[(D1, "django", "a")].behaviour == "one-off"
    assert rows[(D1, "six", "c")].projects == 2
    django = Query(since=ALL.since, until=ALL.until, project="django")
    assert {r.project for r in behaviour(build(mode), django)} == {"django"}
    assert len(behaviour(build(mode), ALL, limit=2)) == 2
    summary = {(r.day, r.behaviour): r for r in behaviour_summary(build(mode), ALL)}
    assert summary[(D1, "one-off")].sources == 3
    assert summary[(D3, "ci")].downloads == 30


@pytest.mark.parametrize("mode", MODES)
def test_summary_with_other_thresholds_and_per_project(mode: str) -> None:
    strict = Thresholds(oneoff_max_runs=0)  # nobody is one-off: the residual class takes them
    summary = {(r.day, r.behaviour): r.sources for r in behaviour_summary(build(mode), ALL, strict)}
    assert summary[(D1, "developer")] == 3
    assert not any(b == "one-off" for _, b in summary)
    assert {r.behaviour for r in behaviour(build(mode), ALL, strict)} == {"developer", "ci"}
    six = Query(since=ALL.since, until=ALL.until, project="six")
    assert [(r.day, r.behaviour, r.sources, r.downloads) for r in behaviour_summary(build(mode), six)] == [
        (D1, "one-off", 1, 1)
    ]
