"""Weekly and monthly uniques from the HLL sketches: hand-made series (worked by hand) and a
synthetic one checked against the exact count within the documented error."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pytest

from pkgate.enrich.sources import SourceHasher
from pkgate.events import Event
from pkgate.insights import Query, uniques
from pkgate.store import ensure_schema, erase, insert_events
from pkgate.store.rollups import refresh_rollups
from pkgate.store.sketches import RELATIVE_ERROR
from tests.insights.data import at, ev

MON = dt.date(2026, 3, 2)
WEEK = Query(since=dt.datetime(2026, 3, 2, tzinfo=dt.UTC), until=dt.datetime(2026, 3, 9, tzinfo=dt.UTC))
MARCH = Query(since=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), until=dt.datetime(2026, 4, 1, tzinfo=dt.UTC))


def request(h: SourceHasher, ip: str, ts_us: int, **kw: Any) -> Event:
    source, network = h.ids(ip, ts_us)
    e = ev(ts_us, source, network, "file", version="1.16.0", project="six", **kw)
    return msgspec.structs.replace(e, marks=h.marks(ip, ts_us))


def store(events: list[Event]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(con, events)
    refresh_rollups(con)
    return con


def total(
    con: duckdb.DuckDBPyConnection, q: Query, period: str, level: str = "client"
) -> dict[dt.date, tuple[int, int | None]]:
    return {
        r.period: (r.sources, r.unique_sources)
        for r in uniques(con, q, level, period)  # type: ignore[arg-type]
        if r.project is None
    }


def test_one_laptop_every_day_is_one_source_a_week(tmp_path: Path) -> None:
    """A laptop downloads six every day of the week; a second machine (same /24) only on Wednesday.
    Daily ids: 7 + 1 = 8 source-days; really: 2 sources, 1 network."""
    h = SourceHasher(tmp_path)
    times = [(at(MON + dt.timedelta(days=d), 9), "198.51.100.7") for d in range(7)]
    times.append((at(MON + dt.timedelta(days=2), 10), "198.51.100.8"))
    evs = [request(h, ip, ts) for ts, ip in sorted(times)]  # in time order, as a gateway sees them
    con = store(evs)
    assert total(con, WEEK, "week") == {MON: (8, 2)}
    assert total(con, WEEK, "week", "network") == {MON: (7, 1)}
    assert total(con, MARCH, "month") == {dt.date(2026, 3, 1): (8, 2)}
    days = total(con, WEEK, "day")
    assert days[MON + dt.timedelta(days=2)] == (2, 2)  # a day: the exact daily count
    row = next(r for r in uniques(con, WEEK, "client", "week") if r.project == "six")
    assert (row.unique_sources, row.unique_downloaders) == (2, 2)
    insert_events(con, evs)  # re-delivered events change nothing
    assert total(con, WEEK, "week") == {MON: (8, 2)}


def test_ecosystems_merge_as_sketches_not_sums(tmp_path: Path) -> None:
    """One machine uses the Python and the npm side: per ecosystem 1 each, all ecosystems 1."""
    h = SourceHasher(tmp_path)
    ts = at(MON, 9)
    con = store([request(h, "198.51.100.7", ts), request(h, "198.51.100.7", ts + 1, ecosystem="npm")])
    assert total(con, WEEK, "week")[MON][1] == 1
    assert total(con, msgspec.structs.replace(WEEK, ecosystem="npm"), "week")[MON] == (1, 1)


def test_erased_sources_late_marks_are_dropped(tmp_path: Path) -> None:
    h = SourceHasher(tmp_path)
    first = request(h, "198.51.100.7", at(MON, 9))
    con = store([request(h, "192.0.2.1", at(MON, 8))])
    erase(con, [first.source_id or ""])
    insert_events(con, [first])  # arrives after the erasure
    assert total(con, WEEK, "week")[MON][1] == 1


@pytest.mark.parametrize("n", [50, 3000])
def test_estimate_within_the_documented_error(tmp_path: Path, n: int) -> None:
    """n machines over a week, each on a random set of days: the estimate vs the exact count."""
    rng = random.Random(n)
    h = SourceHasher(tmp_path)
    times = []
    for i in range(n):
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        for d in rng.sample(range(7), rng.randint(1, 7)):
            times.append((at(MON + dt.timedelta(days=d), rng.randint(0, 23)), ip))
    evs = [request(h, ip, ts) for ts, ip in sorted(times)]
    con = store(evs)
    summed, estimate = total(con, WEEK, "week")[MON]
    assert summed == len(evs) > n
    assert estimate is not None
    assert abs(estimate - n) <= 3 * RELATIVE_ERROR * n + 1
