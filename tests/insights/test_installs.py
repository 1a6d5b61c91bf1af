"""Installs vs downloads, and the ecosystem filter, on a hand-made series (answers worked by hand).

Day 2026-03-02, seconds after 10:00 UTC:
  p (pip): 0 index, 1 download django 4.0.3, 2 the same again (retry)   -> session 1: one install
           30 download six 1.16.0                                      -> session 1: one install
           200 download 4.0.3 (170 s after its previous request)       -> session 2: one install
           250 index, 300 index, 310 download 4.0.3 (gaps 50, 50, 10)  -> still session 2: none
  u (uv):  0 ranged GET of 4.0.3 (metadata read), 1 download 4.0.3     -> one install
  u (pip): 5 download 4.0.3: same source, another User-Agent           -> another session: one install
  h (pip): 0 HEAD 4.0.3                                                -> nothing
  n (npm): 0 download left-pad 1.0.0, ecosystem npm                    -> one install

django 4.0.3: downloads 1+1+1+1 (p) + 1 (u uv) + 1 (u pip) = 6, installs 2 (p) + 1 + 1 = 4.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import duckdb
import msgspec
import pytest

from pkgate.events import Event
from pkgate.insights import Query, breakdown, downloads, heavy_hitters, uniques
from pkgate.insights.registry import projects
from pkgate.store import ensure_schema, insert_events
from pkgate.store.rollups import refresh_rollups
from tests.insights.data import PIP, UV, at, ev

D = dt.date(2026, 3, 2)
Q = Query(since=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), until=dt.datetime(2026, 3, 3, tzinfo=dt.UTC))


def t(s: int) -> int:
    return at(D, 10) + s * 1_000_000


def series() -> list[Event]:
    v: dict[str, Any] = {"version": "4.0.3"}
    return [
        ev(t(0), "p", "n1", "index-project", 200),
        ev(t(1), "p", "n1", "file", **v),
        ev(t(2), "p", "n1", "file", **v),
        ev(t(30), "p", "n1", "file", project="six", version="1.16.0"),
        ev(t(200), "p", "n1", "file", **v),
        ev(t(250), "p", "n1", "index-project", 200),
        ev(t(300), "p", "n1", "index-project", 200),
        ev(t(310), "p", "n1", "file", **v),
        ev(t(0), "u", "n2", "file", partial=True, user_agent=UV, **v),
        ev(t(1), "u", "n2", "file", user_agent=UV, **v),
        ev(t(5), "u", "n2", "file", user_agent=PIP, **v),
        ev(t(0), "h", "n3", "file", method="HEAD", **v),
        ev(
            t(0), "n", "n4", "file", project="left-pad", version="1.0.0", ecosystem="npm", user_agent="npm/10"
        ),
    ]


@functools.cache
def build(mode: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(con, series())
    if mode == "rolled":
        refresh_rollups(con)
    return con


MODES = ("raw", "rolled")


@pytest.mark.parametrize("mode", MODES)
def test_installs_per_version(mode: str) -> None:
    rows = {(r.project, r.version): r for r in downloads(build(mode), Q)}
    d = rows[("django", "4.0.3")]
    assert (d.downloads, d.installs, d.metadata, d.head) == (6, 4, 1, 1)
    assert (rows[("six", "1.16.0")].downloads, rows[("six", "1.16.0")].installs) == (1, 1)
    assert (rows[("django", None)].downloads, rows[("django", None)].installs) == (0, 0)


@pytest.mark.parametrize("mode", MODES)
def test_installs_in_every_report(mode: str) -> None:
    con = build(mode)
    by = {r.value: (r.downloads, r.installs) for r in breakdown(con, Q, "installer")}
    assert by["pip"] == (6, 4)  # p: 4 django + 1 six downloads, 3 installs; u's pip download: 1, 1
    assert by["uv"] == (1, 1)
    total = next(r for r in uniques(con, Q) if r.project is None)
    assert (total.downloads, total.installs) == (8, 6)
    hh = {r.source_id: (r.downloads, r.installs) for r in heavy_hitters(con, Q)}
    assert hh == {"p": (5, 3), "u": (2, 2), "n": (1, 1)}
    assert {p.project: p.installs for p in projects(con, Q)} == {"django": 4, "six": 1, "left-pad": 1}


@pytest.mark.parametrize("mode", MODES)
def test_ecosystem_filter(mode: str) -> None:
    con = build(mode)
    npm = msgspec.structs.replace(Q, ecosystem="npm")
    python = msgspec.structs.replace(Q, ecosystem="python")
    assert {(r.project, r.installs) for r in downloads(con, npm)} == {("left-pad", 1)}
    assert "left-pad" not in {r.project for r in downloads(con, python)}
    assert {r.project for r in downloads(con, Q)} == {"django", "six", "left-pad"}
    assert {r.source_id for r in heavy_hitters(con, npm)} == {"n"}
    assert next(r for r in uniques(con, python) if r.project is None).sources == 3  # p, u, h
