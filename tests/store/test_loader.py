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
    """An ASN above 2^31-1 does not fit the INTEGER column: that event is rejected with the reason,
    its batch neighbours load, and the next run does not try it again."""
    spool, db = tmp_path / "spool", tmp_path / "s.duckdb"
    w = SegmentWriter(spool, "w")
    events = [make_event(i, asn=2**31 if i in (37, 80) else 64500) for i in range(100)]
    w.write(b"".join(frame(encode(e)) for e in events))
    w.close()
    assert Loader(db, spool).run_once() == 100
    assert count(db) == 98
    con = duckdb.connect(str(db), read_only=True)
    rejects = con.execute('SELECT "offset", error, payload FROM rejects ORDER BY 1').fetchall()
    loaded = {r[0] for r in con.execute("SELECT project FROM events").fetchall()}
    con.close()
    assert [encode(events[37]), encode(events[80])] == [r[2] for r in rejects]
    assert all("refused by the store" in r[1] and "2147483648" in r[1] for r in rejects)
    assert loaded == {f"p{i}" for i in range(100)} - {"p37", "p80"}
    assert Loader(db, spool).run_once() == 0  # nothing left to retry
    assert list_segments(spool) == []
