"""Breakdowns by connection type (from the ASN) and by CI signal, on a hand-made day.

By hand (2026-03-02, one download each unless said):
- a: AS13335 (Cloudflare: hosting), pip saying `"ci": true` — 2 downloads;
- b: AS7922 (Comcast: an ISP), nothing CI;
- c: no ASN, pip saying CI, from a GitLab range — both signals;
- d: AS3 (MIT: education), from a GitHub Actions range — the address alone.
Connection: hosting 2, isp 1, education 1, unknown 1 (shares 0.4, 0.2, 0.2, 0.2).
CI signal: user-agent 2, none 1, both 1, address 1.
"""

from __future__ import annotations

import datetime as dt
import functools
import json

import duckdb
import pytest

from pkgate.insights import Query, breakdown
from pkgate.store import ensure_schema, insert_events
from pkgate.store.rollups import refresh_rollups
from tests.insights.data import at, ev

D = dt.date(2026, 3, 2)
Q = Query(since=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), until=dt.datetime(2026, 3, 3, tzinfo=dt.UTC))
PIP_CI = "pip/24.0 " + json.dumps({"installer": {"name": "pip", "version": "24.0"}, "ci": True})


@functools.cache
def store(mode: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(
        con,
        [
            ev(at(D, 9), "a", "n1", "file", version="4.0.3", asn=13335, user_agent=PIP_CI),
            ev(
                at(D, 9, 0, 1),
                "a",
                "n1",
                "file",
                project="six",
                version="1.16.0",
                asn=13335,
                user_agent=PIP_CI,
            ),
            ev(at(D, 10), "b", "n2", "file", version="4.0.3", asn=7922),
            ev(at(D, 11), "c", "n3", "file", version="4.0.3", user_agent=PIP_CI, cloud="gitlab"),
            ev(at(D, 12), "d", "n4", "file", version="4.0.3", asn=3, cloud="github-actions"),
        ],
    )
    if mode == "rolled":
        refresh_rollups(con)
    return con


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_connection(mode: str) -> None:
    rows = [(r.value, r.downloads, r.sources, r.share) for r in breakdown(store(mode), Q, "connection")]
    assert rows == [("hosting", 2, 1, 0.4), ("education", 1, 1, 0.2), ("isp", 1, 1, 0.2), (None, 1, 1, 0.2)]
    over = breakdown(store(mode), Q, "connection", over_time=True)
    assert {(r.day, r.value): r.downloads for r in over} == {
        (D, "hosting"): 2,
        (D, "education"): 1,
        (D, "isp"): 1,
        (D, None): 1,
    }


@pytest.mark.parametrize("mode", ["raw", "rolled"])
def test_ci_signal(mode: str) -> None:
    got = {r.value: r.downloads for r in breakdown(store(mode), Q, "ci_signal")}
    assert got == {"user-agent": 2, "none": 1, "both": 1, "address": 1}
