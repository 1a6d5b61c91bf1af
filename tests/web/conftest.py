"""A small store with known numbers, built through the store's own insert path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pkgate.events import Event, new_id
from pkgate.store import connect, ensure_schema, insert_events

TOKEN = "t0ken-for-tests-0123456789"
DAY = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def _ev(day: int, hour: int, kind: str, status: int, project: str, version: str | None, source: str) -> Event:
    ts = DAY + dt.timedelta(days=day, hours=hour)
    return Event(
        id=new_id(), ts_us=int(ts.timestamp() * 1_000_000), gateway="gw", method="GET",
        path=f"/simple/{project}/", kind=kind, status=status, duration_us=100, project=project,
        version=version, user_agent='pip/24.0 {"installer":{"name":"pip","version":"24.0"}}',
        source_id=source, network_id=source[:4], country="DE",
    )  # fmt: skip


def sample_events() -> list[Event]:
    """six: 3 downloads on day 0, 1 on day 1, one 404; flask: 2 downloads on day 1."""
    evs = [
        _ev(0, 9, "index-project", 200, "six", None, "aaaa01"),
        _ev(0, 9, "file", 302, "six", "1.16.0", "aaaa01"),
        _ev(0, 10, "file", 302, "six", "1.16.0", "aaaa02"),
        _ev(0, 11, "file", 302, "six", "1.15.0", "aaaa03"),
        _ev(0, 12, "index-project", 304, "six", None, "aaaa01"),
        _ev(1, 9, "file", 302, "six", "1.16.0", "aaaa01"),
        _ev(1, 9, "file", 404, "six", "1.16.0", "aaaa01"),
        _ev(1, 10, "file", 302, "flask", "3.0.0", "bbbb01"),
        _ev(1, 11, "file", 302, "flask", "3.0.0", "bbbb02"),
    ]
    return evs


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("store") / "pkgate.duckdb"
    con = connect(path)
    try:
        ensure_schema(con)
        insert_events(con, sample_events())
    finally:
        con.close()
    return path
