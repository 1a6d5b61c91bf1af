"""The store's layout: `events` reads as one wide table, stores of the earlier wide layout are
split on open without losing an event, and agents an older parser read are parsed again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pkgate.enrich.ua import PARSER_VERSION, parse
from pkgate.store import ensure_schema, erase, insert_events
from pkgate.store.rollups import apply_retention
from pkgate.store.schema import EVENT_COLUMNS
from tests.insights.data import D1, D3, PIP, UV, at, ev

#: The wide `events` table of earlier versions, before `solver` and the 4-byte `asn` (they added
#: columns as they went): what a store made by them holds.
_OLD = [(n, k) for n, k in EVENT_COLUMNS if n != "solver"]
_OLD = [(n, "INTEGER" if n == "asn" else k) for n, k in _OLD]


def _old_store(path: Path, rows: list[dict[str, Any]]) -> None:
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE events ({', '.join(f'{n} {k}' for n, k in _OLD)})")
    names = [n for n, _ in _OLD]
    con.executemany(
        f"INSERT INTO events ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",  # noqa: S608 - the test's own names
        [[row.get(n) for n in names] for row in rows],
    )
    con.close()


def _row(i: int, ua: str | None, **parsed: Any) -> dict[str, Any]:
    return {
        "id": f"00000000-0000-0000-0000-{i:012d}",
        "ts": dt.datetime(2026, 3, 2, 10, i, tzinfo=dt.UTC),
        "gateway": "gw",
        "method": "GET",
        "path": "/simple/django/",
        "kind": "index-project",
        "status": 200,
        "project": "django",
        "user_agent": ua,
        "source_id": f"s{i}",
        "asn": 64500 + i,
        "ua_parser": 1,
        **parsed,
    }


def test_events_reads_as_the_wide_table_it_describes() -> None:
    con = duckdb.connect()
    ensure_schema(con)
    described = [(r[0], r[1]) for r in con.execute("DESCRIBE events").fetchall()]
    want = [(n, k.split()[0].replace("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE")) for n, k in EVENT_COLUMNS]
    assert described == want
    ensure_schema(con)  # again: nothing to do, nothing breaks
    assert [r[0] for r in con.execute("DESCRIBE events").fetchall()] == [n for n, _ in EVENT_COLUMNS]


def test_events_of_one_agent_share_its_row() -> None:
    con = duckdb.connect()
    ensure_schema(con)
    insert_events(
        con, [ev(at(D1, 10 + i), f"s{i}", "n", "file", version="1", user_agent=PIP) for i in range(5)]
    )
    insert_events(con, [ev(at(D1, 20), "t", "n", "file", version="1", user_agent=UV)])
    assert con.execute("SELECT count(*) FROM agents").fetchone() == (2,)
    rows = con.execute("SELECT installer, python, count(*) FROM events GROUP BY ALL ORDER BY 1").fetchall()
    assert rows == [("pip", "3.12.1", 5), ("uv", None, 1)]


def test_a_wide_store_is_split_and_its_agents_parsed_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "old.duckdb"
    wrong = {"ua_category": "other", "installer": "not-pip"}  # an old parser's mistake
    rows = [_row(i, PIP, **wrong) for i in range(3)]
    rows += [_row(3, UV, installer="uv"), _row(4, None), _row(5, "")]
    _old_store(db, rows)

    con = duckdb.connect(str(db))
    with caplog.at_level("WARNING", logger="pkgate.store"):
        ensure_schema(con)
    assert "moving the events to the layout of this version" in caplog.text
    assert "6 events moved" in caplog.text
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert kinds["events"] == "VIEW"
    assert kinds["event_rows"] == kinds["agents"] == "BASE TABLE"
    got = con.execute(
        "SELECT CAST(id AS VARCHAR), source_id, asn, user_agent, installer, python, solver, ua_parser "
        "FROM events ORDER BY id"
    ).fetchall()
    pip = parse(PIP)
    assert got == [
        *[
            (rows[i]["id"], f"s{i}", 64500 + i, PIP, pip.installer, pip.python, None, PARSER_VERSION)
            for i in range(3)
        ],
        (rows[3]["id"], "s3", 64503, UV, "uv", None, None, PARSER_VERSION),
        (rows[4]["id"], "s4", 64504, None, None, None, None, None),  # no agent: none made up
        (rows[5]["id"], "s5", 64505, "", None, None, None, PARSER_VERSION),
    ]
    assert pip.installer == "pip"
    assert con.execute("SELECT count(*) FROM agents").fetchone() == (3,)
    kind = con.execute(
        "SELECT data_type FROM duckdb_columns() WHERE table_name = 'event_rows' AND column_name = 'asn'"
    )
    assert kind.fetchone() == ("BIGINT",)
    # New events of a known agent join its row; ids are kept unique across the two layouts.
    insert_events(con, [ev(at(D1, 11), "s9", "n", "file", version="1", user_agent=PIP)])
    assert con.execute("SELECT count(*) FROM agents").fetchone() == (3,)
    assert con.execute("SELECT count(*) FROM events WHERE installer = 'pip'").fetchone() == (4,)
    con.close()


def test_agents_an_older_parser_read_are_read_again(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    ensure_schema(con)
    insert_events(con, [ev(at(D1, 10), "a", "n", "file", version="1", user_agent=PIP)])
    con.execute("UPDATE agents SET installer = 'stale', python = NULL, ua_parser = ?", [PARSER_VERSION - 1])
    con.close()
    con = duckdb.connect(str(db))
    ensure_schema(con)
    got = con.execute("SELECT installer, python, ua_parser FROM events").fetchall()
    assert got == [("pip", "3.12.1", PARSER_VERSION)]
    con.close()


def _agents(con: duckdb.DuckDBPyConnection) -> list[str]:
    return sorted(r[0] for r in con.execute("SELECT user_agent FROM agents").fetchall())


def test_erasure_and_retention_keep_no_agent_of_the_events_gone(tmp_path: Path) -> None:
    lone, old = "curl/8.5.0 (one machine's own build)", "Wget/1.21.3"
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    ensure_schema(con)
    insert_events(
        con,
        [
            ev(at(D1, 10), "a", "n1", "file", version="1", user_agent=lone),
            ev(at(D1, 11), "b", "n2", "file", version="1", user_agent=PIP),
            ev(at(D1, 12), "a", "n1", "file", version="1", user_agent=PIP),  # shared: stays
        ],
    )
    assert _agents(con) == sorted([lone, PIP])
    assert erase(con, ["a"]) == 2
    assert _agents(con) == [PIP]
    insert_events(con, [ev(at(D1, 13), "c", "n3", "file", version="1", user_agent=old)])
    insert_events(con, [ev(at(D3, 9), "d", "n4", "file", version="1", user_agent=PIP)])
    now = dt.datetime.combine(D3, dt.time(12), tzinfo=dt.UTC)
    assert apply_retention(con, 2, now=now) == 2  # D1's events (b's and c's) are folded away
    assert _agents(con) == [PIP]
    assert con.execute("SELECT count(*) FROM events WHERE installer = 'pip'").fetchone() == (1,)
    con.close()
