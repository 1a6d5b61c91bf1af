"""Rollups: incremental refresh (new, late and erased events), retention folding, forgetting ids."""

from __future__ import annotations

import datetime as dt

import duckdb

from pkgate.insights import behaviour, downloads, heavy_hitters, uniques
from pkgate.store import ensure_schema, erase, insert_events
from pkgate.store.rollups import _blocks, apply_retention, forget_sources, has_rollups, refresh_rollups
from tests.insights.data import ALL, D1, D2, D3, at, day3, day12, ev


def fresh() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(con, day12() + day3())
    return con


def totals(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str | None], tuple[int, int]]:
    return {(r.project, r.version): (r.downloads, r.sources) for r in downloads(con, ALL)}


def test_refresh_only_touches_changed_days() -> None:
    con = fresh()
    assert not has_rollups(con)
    first = refresh_rollups(con)
    assert has_rollups(con)
    assert first.refreshed == [D1, D2, D3]
    assert refresh_rollups(con).refreshed == []
    insert_events(con, [ev(at(D2, 23, 59, 59), "z", "n9", "file", version="4.0.3")])  # a late event
    assert refresh_rollups(con).refreshed == [D2]
    assert totals(con)[("django", "4.0.3")] == (34, 5)


def test_erasure_is_noticed_and_empty_days_dropped() -> None:
    con = fresh()
    refresh_rollups(con)
    erase(con, ["e"])
    result = refresh_rollups(con)
    assert result.refreshed == []
    assert result.dropped == [D3]
    assert totals(con)[("django", "4.0.3")] == (3, 3)
    erase(con, ["n1"])  # a network id: a and b
    assert refresh_rollups(con).refreshed == [D1]
    assert totals(con)[("django", "4.0.3")] == (1, 1)
    assert con.execute("SELECT count(*) FROM rollup_sources WHERE day = ?", [D3]).fetchone() == (0,)


def test_retention_folds_old_days_into_rollups() -> None:
    con = fresh()
    before = totals(con)
    weekly = uniques(con, ALL, "client", "week")
    assert apply_retention(con, 0) == 0
    deleted = apply_retention(con, 2, now=dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC))
    assert deleted == 11  # days 1 and 2; day 3 (today) stays
    assert con.execute("SELECT count(*) FROM events").fetchone() == (30,)
    assert totals(con) == before
    assert uniques(con, ALL, "client", "week") == weekly
    assert {r.day for r in behaviour(con, ALL)} == {D1, D2, D3}
    # a late event for a folded day is not counted, and the next retention run deletes it
    insert_events(con, [ev(at(D1, 13), "y", "n8", "file", version="4.0.3")])
    assert refresh_rollups(con).refreshed == []
    assert totals(con) == before
    assert apply_retention(con, 2, now=dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC)) == 1
    assert totals(con) == before


def test_forget_sources_in_folded_days() -> None:
    con = fresh()
    assert forget_sources(con, ["a"]) == 0  # no rollups yet
    apply_retention(con, 1, now=dt.datetime(2026, 3, 9, tzinfo=dt.UTC))
    assert forget_sources(con, ["a", "n2"]) == 4  # a (django), c (django, six), d (django)
    assert {r.source_id for r in behaviour(con, ALL)} == {"b", "e"}
    assert {r.source_id for r in heavy_hitters(con, ALL)} == {"b", "e"}


def test_blocks() -> None:
    days = [D1, D2, D1 + dt.timedelta(days=2), D1 + dt.timedelta(days=3), D3]
    assert _blocks(days) == [(D1, D1 + dt.timedelta(days=2)), (D1 + dt.timedelta(days=3),) * 2, (D3, D3)]
    assert _blocks([]) == []


def test_a_rollup_table_new_to_the_store_is_filled() -> None:
    """A store rolled up by a version without `rollup_session_projects` gets it for every day that
    still has its events (a new table must not read as "no sessions" for those days)."""
    con = fresh()
    refresh_rollups(con)
    con.execute("DROP TABLE rollup_session_projects")
    assert refresh_rollups(con).refreshed == [D1, D2, D3]
    # (session, project, version) downloaded: a, b, d one each, c two; e's 30 downloads are 10 min
    # apart, 30 sessions
    assert con.execute("SELECT count(*) FROM rollup_session_projects").fetchone() == (35,)
