"""A small hand-made store shared by the insight tests; the expected numbers are in each test.

Day 1 (Mon 2026-03-02): A (pip, DE, network N1): django index 200, 4.0.3 download, 4.0.3 metadata;
  B (uv, US, N1): index 200, 4.0.3 download, 4.0.3 HEAD; C (pip, DE, N2): 4.0.0 download,
  six 1.16.0 download, a django 404.
Day 2 (Tue 2026-03-03): D (pip, FR, N2): django index 304, 4.0.3 download.
Day 3 (Mon 2026-03-09): E (requests, US, N3, github-actions): 4.0.3 downloaded 30 times, every 10 min.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any, Final

import duckdb

from pkgate.enrich.metadata import Fetched
from pkgate.events import Event
from pkgate.events.model import new_id
from pkgate.insights import Query
from pkgate.store import ensure_schema, insert_events
from pkgate.store.deps import record_requires
from pkgate.store.rollups import refresh_rollups

PIP: Final = "pip/24.0 " + json.dumps(
    {
        "installer": {"name": "pip", "version": "24.0"},
        "python": "3.12.1",
        "implementation": {"name": "CPython", "version": "3.12.1"},
        "system": {"name": "Linux", "release": "6.1"},
        "cpu": "x86_64",
    }
)
UV: Final = "uv/0.4.0"
REQUESTS: Final = "python-requests/2.31.0"
D1, D2, D3 = dt.date(2026, 3, 2), dt.date(2026, 3, 3), dt.date(2026, 3, 9)
ALL: Final = Query(
    since=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), until=dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
)
MODES: Final = ("raw", "rolled", "mixed")


def at(day: dt.date, hh: int, mm: int = 0, ss: int = 0) -> int:
    return int(dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=dt.UTC).timestamp() * 1_000_000)


def ev(ts_us: int, src: str, net: str, kind: str, status: int = 302, **kw: Any) -> Event:
    project = kw.pop("project", "django")
    version = kw.pop("version", None)
    fname = f"{project}-{version}-py3-none-any.whl" if version else None
    base: dict[str, Any] = {
        "id": new_id(),
        "ts_us": ts_us,
        "gateway": "gw",
        "method": "GET",
        "path": f"/files/{fname}" if fname else f"/simple/{project}/",
        "kind": kind,
        "status": status,
        "duration_us": 10,
        "project": project,
        "version": version,
        "filename": fname,
        "user_agent": PIP,
        "source_id": src,
        "network_id": net,
        "country": "DE",
    }
    base.update(kw)
    return Event(**base)


def day12() -> list[Event]:
    return [
        ev(at(D1, 10), "a", "n1", "index-project", 200),
        ev(at(D1, 10, 0, 1), "a", "n1", "file", version="4.0.3"),
        ev(at(D1, 10, 0, 2), "a", "n1", "metadata", version="4.0.3"),
        ev(at(D1, 11), "b", "n1", "index-project", 200, user_agent=UV, country="US"),
        ev(at(D1, 11, 0, 1), "b", "n1", "file", version="4.0.3", user_agent=UV, country="US"),
        ev(at(D1, 11, 0, 2), "b", "n1", "file", version="4.0.3", method="HEAD", user_agent=UV, country="US"),
        ev(at(D1, 12), "c", "n2", "file", version="4.0.0"),
        ev(at(D1, 12), "c", "n2", "file", project="six", version="1.16.0"),
        ev(at(D1, 12, 1), "c", "n2", "file", 404),
        ev(at(D2, 9), "d", "n2", "index-project", 304, conditional=True, country="FR"),
        ev(at(D2, 9, 0, 1), "d", "n2", "file", version="4.0.3", country="FR"),
    ]


def day3() -> list[Event]:
    return [
        ev(
            at(D3, 8) + i * 600_000_000,
            "e",
            "n3",
            "file",
            version="4.0.3",
            user_agent=REQUESTS,
            country="US",
            cloud="github-actions",
        )
        for i in range(30)
    ]


@functools.cache
def build(mode: str) -> duckdb.DuckDBPyConnection:
    """The store in one of three states: no rollups, all rolled up, days 1-2 rolled and day 3 raw.

    Cached: tests only read it.
    """
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(con, day12())
    # what the loader side would have read: in C's session, django 4.0.0 pulls six in
    record_requires(con, [("django", "4.0.0", "django-4.0.0-py3-none-any.whl", Fetched("ok", ("six",)))])
    if mode == "mixed":
        refresh_rollups(con)
    insert_events(con, day3())
    if mode == "rolled":
        refresh_rollups(con)
    return con
