"""Mirrors and bots by behaviour, and reports that leave mirrors, bots and CI out by default.

The hand-made day (2026-03-02), and what each source is, worked out from the rules by hand:

- p (pip, network n1): django index 200, django 4.0.3 and six 1.16.0 downloads — a person (one-off);
- w (pip, n1): downloads 3 versions of each of a, b, c, d, e and django (6 projects, 18 files,
  3.0 files per project >= `walk_files`) — a mirror walking projects, whatever its User-Agent says;
- c (pip, n2, a GitHub Actions address): one django 4.0.3 download — CI;
- b (Googlebot, n3): the django index page — a bot;
- an event without a source id (bandersnatch): one django 4.0.3 download — a mirror by its UA.
"""

from __future__ import annotations

import datetime as dt
import functools

import duckdb
import pytest
from msgspec.structs import replace

from pkgate.events import Event
from pkgate.insights import Query, Request, behaviour, breakdown, downloads, uniques
from pkgate.insights.adoption import first_seen
from pkgate.insights.behaviour import automated, classify
from pkgate.insights.registry import by_name
from pkgate.store import ensure_schema, insert_events
from pkgate.store.rollups import refresh_rollups
from tests.insights.data import MODES, at, ev

D = dt.date(2026, 3, 2)
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
Q = Query(since=T0, until=T0 + dt.timedelta(days=1))
PEOPLE = Query(since=Q.since, until=Q.until, all_sources=False)
BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"
BANDERSNATCH = "bandersnatch/6.5.0 (CPython 3.12.4-final0, Linux x86_64)"


def _events() -> list[Event]:
    out = [
        ev(at(D, 10), "p", "n1", "index-project", 200),
        ev(at(D, 10, 0, 1), "p", "n1", "file", version="4.0.3"),
        ev(at(D, 10, 0, 2), "p", "n1", "file", project="six", version="1.16.0"),
        ev(at(D, 12), "c", "n2", "file", version="4.0.3", cloud="github-actions"),
        ev(at(D, 13), "b", "n3", "index-project", 200, user_agent=BOT, country="US"),
        ev(
            at(D, 14),
            "",
            "",
            "file",
            version="4.0.3",
            user_agent=BANDERSNATCH,
            source_id=None,
            network_id=None,
        ),
    ]
    second = 0
    for project, versions in [(p, ("1.0", "2.0", "3.0")) for p in "abcde"] + [
        ("django", ("3.2", "4.0.0", "4.0.3"))
    ]:
        for v in versions:
            out.append(ev(at(D, 11, 0, second), "w", "n1", "file", project=project, version=v))
            second += 1
    return out


@functools.cache
def store(mode: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(con, _events())
    if mode == "rolled":
        refresh_rollups(con)
    return con


def _req(project: str, version: str, i: int, **kw: object) -> Request:
    return Request(
        ts=T0 + dt.timedelta(seconds=i),
        status=302,
        kind="file",
        project=project,
        version=version,
        filename=f"{project}-{version}.whl",
        **kw,  # type: ignore[arg-type]
    )


def test_a_walk_over_projects_and_versions_is_a_mirror() -> None:
    walk = [_req(p, v, i * 3 + j) for i, p in enumerate("abcdef") for j, v in enumerate(("1", "2", "3"))]
    assert classify(walk) == "mirror"
    assert automated(walk)
    # the same six projects, one file each: an install (requirements of six lines)
    install = [_req(p, "1", i) for i, p in enumerate("abcdef")]
    assert classify(install) == "one-off"
    assert not automated(install)
    # three versions of four projects: under walk_projects (5), pip backtracking is not a walk
    backtrack = [_req(p, v, i * 3 + j) for i, p in enumerate("abcd") for j, v in enumerate(("1", "2", "3"))]
    assert classify(backtrack) == "one-off"
    # 6 projects x 2 files = 2.0 per project < walk_files (3.0)
    two = [_req(p, v, i * 2 + j) for i, p in enumerate("abcdef") for j, v in enumerate(("1", "2"))]
    assert classify(two) == "one-off"


def test_probing_names_is_a_bot() -> None:
    # 20 index requests, 10 of them 404: missing_share 0.5 >= probe_missing
    probe = [
        Request(ts=T0 + dt.timedelta(seconds=i), status=404 if i % 2 else 200, project=f"n{i}")
        for i in range(20)
    ]
    assert classify(probe) == "bot"
    assert automated(probe)
    # 19 projects: under probe_projects
    assert classify(probe[:19]) == "one-off"
    assert classify([Request(ts=T0, status=200, project="x", ua_category="bot")]) == "bot"


@pytest.mark.parametrize("mode", MODES[:2])
def test_behaviour_of_the_day(mode: str) -> None:
    got = {(r.project, r.source_id): r.behaviour for r in behaviour(store(mode), Q)}
    assert got[("django", "w")] == "mirror"
    assert got[("a", "w")] == "mirror"
    assert got[("django", "b")] == "bot"
    assert got[("django", "c")] == "ci"
    assert got[("django", "p")] == "one-off"


@pytest.mark.parametrize("mode", MODES[:2])
def test_downloads_leave_mirrors_bots_and_ci_out(mode: str) -> None:
    con = store(mode)
    dj = Query(since=Q.since, until=Q.until, project="django")
    everyone = {r.version: (r.downloads, r.index_hits, r.sources) for r in downloads(con, dj)}
    # 4.0.3: p, w, c and the bandersnatch event; index: p and b
    assert everyone == {None: (0, 2, 2), "3.2": (1, 0, 1), "4.0.0": (1, 0, 1), "4.0.3": (4, 0, 3)}
    people = {
        r.version: (r.downloads, r.index_hits, r.sources)
        for r in downloads(con, replace(dj, all_sources=False))
    }
    assert people == {None: (0, 1, 1), "4.0.3": (1, 0, 1)}
    # the registry's default is people only; the switch puts everyone back
    spec = by_name("downloads")
    assert spec is not None
    assert {r.version: r.downloads for r in spec(con, dj, {})} == {None: 0, "4.0.3": 1}
    assert sum(r.downloads for r in spec(con, dj, {"all_sources": "true"})) == 6


@pytest.mark.parametrize("mode", MODES[:2])
def test_uniques_breakdown_first_seen(mode: str) -> None:
    con = store(mode)
    total = {r.project: r for r in uniques(con, Q)}[None]
    assert (total.sources, total.downloaders, total.downloads) == (4, 3, 22)  # p, w, c, b; 2+18+1+1
    ptotal = {r.project: r for r in uniques(con, PEOPLE)}[None]
    assert (ptotal.sources, ptotal.downloaders, ptotal.downloads) == (1, 1, 2)
    nets = {r.project: r for r in uniques(con, Q, level="network")}[None]
    pnets = {r.project: r for r in uniques(con, PEOPLE, level="network")}[None]
    assert (nets.sources, pnets.sources) == (3, 1)  # n1 is shared by p and the mirror w: once
    pip = {r.value: r.downloads for r in breakdown(con, PEOPLE, "installer")}
    assert pip == {"pip": 2}
    assert {r.version for r in first_seen(con, PEOPLE) if r.project == "django"} == {"4.0.3"}
    assert {r.version for r in first_seen(con, Q) if r.project == "django"} == {"3.2", "4.0.0", "4.0.3"}
