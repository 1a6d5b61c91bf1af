"""The store's inserts leave out erased sources, whether or not any erasure exists yet."""

from __future__ import annotations

import duckdb
import pytest

from pkgate.events import Event
from pkgate.store import ensure_schema, erase, insert_events
from pkgate.store.rows import insert_rows, to_rows
from tests.insights.data import D1, at, ev


def _ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT source_id FROM events").fetchall()}


@pytest.mark.parametrize("whole_rows", [True, False], ids=["insert_rows", "insert_events"])
def test_erased_sources_are_left_out_once_there_are_any(whole_rows: bool) -> None:
    con = duckdb.connect()
    ensure_schema(con)

    def insert(events: list[Event]) -> None:
        if whole_rows:
            insert_rows(con, to_rows(events))
        else:
            insert_events(con, events)

    insert([ev(at(D1, 10), "a", "n1", "file", version="1"), ev(at(D1, 11), "b", "n2", "file", version="1")])
    assert _ids(con) == {"a", "b"}  # no erasure yet: everything goes in
    erase(con, ["a", "n3"])  # a source id, and a network id
    assert _ids(con) == {"b"}
    insert(
        [
            ev(at(D1, 12), "a", "n4", "file", version="2"),  # erased source, new network
            ev(at(D1, 12), "c", "n3", "file", version="2"),  # erased network, new source
            ev(at(D1, 12), "d", "n5", "file", version="2"),
        ]
    )
    assert _ids(con) == {"b", "d"}
    con.begin()  # an erasure made in the insert's own transaction counts too
    con.execute("INSERT INTO erasures (source_id) VALUES ('e')")
    insert([ev(at(D1, 13), "e", "n6", "file", version="3"), ev(at(D1, 13), "f", "n6", "file", version="3")])
    con.commit()
    assert _ids(con) == {"b", "d", "f"}
