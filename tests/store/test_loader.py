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
