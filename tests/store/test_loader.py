"""Loader: exactly-once into DuckDB across crashes, rejects kept, segments cleaned up."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pkgate.events import encode
from pkgate.events.spool import SegmentWriter, frame, list_segments
from pkgate.store import Loader
from tests.events.test_spool import make_event


def count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone()
        assert row is not None
        assert row[0] == row[1]
        return int(row[0])
    finally:
        con.close()


def test_loads_everything_once_and_deletes_sealed(tmp_path: Path) -> None:
    spool, db = tmp_path / "spool", tmp_path / "s.duckdb"
    w = SegmentWriter(spool, "w", segment_bytes=4096)
    for i in range(300):
        w.write(
            frame(encode(make_event(i, user_agent='pip/24.0 {"installer":{"name":"pip","version":"24.0"}}')))
        )
    loader = Loader(db, spool, batch=64)
    assert loader.run_once() == 300
    assert count(db) == 300
    # sealed segments are gone; the open one stays
    assert [s.sealed for s in list_segments(spool)] == [False]
    assert loader.run_once() == 0
    w.write(frame(encode(make_event(999))))
    assert loader.run_once() == 1
    w.close()
    loader.run_once()
    assert list_segments(spool) == []
    assert count(db) == 301
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT DISTINCT installer FROM events").fetchall() == [("pip",)]
    con.close()


def test_replay_after_lost_progress_is_deduplicated(tmp_path: Path) -> None:
    """A crash between deleting a segment's progress and the file: reloading inserts nothing twice."""
    spool, db = tmp_path / "spool", tmp_path / "s.duckdb"
    w = SegmentWriter(spool, "w")
    for i in range(50):
        w.write(frame(encode(make_event(i))))
    Loader(db, spool).run_once()
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM spool_progress")  # forget all offsets
    con.close()
    assert Loader(db, spool).run_once() == 50  # frames re-read...
    assert count(db) == 50  # ...but not re-inserted


def test_a_batch_of_stored_and_new_events_loads_the_new_and_rejects_nothing(tmp_path: Path) -> None:
    """The loader inserts without the conflict check first; a batch holding events already stored
    is done again with it: the new events load, the stored ones are skipped, nothing is rejected."""
    spool, db = tmp_path / "spool", tmp_path / "s.duckdb"
    w = SegmentWriter(spool, "w")
    for i in range(50):
        w.write(frame(encode(make_event(i))))
    Loader(db, spool).run_once()
    con = duckdb.connect(str(db))
    con.execute("DELETE FROM spool_progress")  # forget all offsets: the 50 come again...
    con.close()
    for i in range(50, 80):
        w.write(frame(encode(make_event(i))))  # ...in one batch with 30 new ones
    assert Loader(db, spool).run_once() == 80
    assert count(db) == 80
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (0,)
    con.close()


def test_undecodable_frame_goes_to_rejects(tmp_path: Path) -> None:
    spool, db = tmp_path / "spool", tmp_path / "s.duckdb"
    w = SegmentWriter(spool, "w")
    w.write(frame(encode(make_event(1))) + frame(b"\x93not an event") + frame(encode(make_event(2))))
    w.close()
    Loader(db, spool).run_once()
    assert count(db) == 2
    con = duckdb.connect(str(db), read_only=True)
    rejects = con.execute("SELECT payload FROM rejects").fetchall()
    con.close()
    assert rejects == [(b"\x93not an event",)]


def test_poison_events_go_to_rejects_and_the_rest_loads(tmp_path: Path) -> None:
    """An ASN above 2^63-1 does not fit the BIGINT column: that event is rejected with the reason,
    its batch neighbours load, and the next run does not try it again."""
    spool, db = tmp_path / "spool", tmp_path / "s.duckdb"
    w = SegmentWriter(spool, "w")
    events = [make_event(i, asn=2**63 if i in (37, 80) else 64500) for i in range(100)]
    w.write(b"".join(frame(encode(e)) for e in events))
    w.close()
    assert Loader(db, spool).run_once() == 100
    assert count(db) == 98
    con = duckdb.connect(str(db), read_only=True)
    rejects = con.execute('SELECT "offset", error, payload FROM rejects ORDER BY 1').fetchall()
    loaded = {r[0] for r in con.execute("SELECT project FROM events").fetchall()}
    con.close()
    assert [encode(events[37]), encode(events[80])] == [r[2] for r in rejects]
    assert all("refused by the store" in r[1] and "too large" in r[1] for r in rejects)
    assert loaded == {f"p{i}" for i in range(100)} - {"p37", "p80"}
    assert Loader(db, spool).run_once() == 0  # nothing left to retry
    assert list_segments(spool) == []


def test_four_byte_asns_load_and_old_integer_columns_are_widened(tmp_path: Path) -> None:
    """ASNs are 32-bit unsigned (RFC 6793): 4200000000 is a private-use ASN and must load; a store
    made when the column was INTEGER is widened on open."""
    spool, db = tmp_path / "spool", tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE events (id UUID PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, asn INTEGER)")
    con.close()
    w = SegmentWriter(spool, "w")
    events = [make_event(i, asn=4_200_000_000 + i) for i in range(3)]
    w.write(b"".join(frame(encode(e)) for e in events))
    w.close()
    assert Loader(db, spool).run_once() == 3
    con = duckdb.connect(str(db), read_only=True)
    asns = sorted(r[0] for r in con.execute("SELECT asn FROM events").fetchall())
    kind = con.execute("SELECT data_type FROM duckdb_columns() WHERE column_name = 'asn'").fetchone()
    con.close()
    assert asns == [4_200_000_000, 4_200_000_001, 4_200_000_002]
    assert kind == ("BIGINT",)
