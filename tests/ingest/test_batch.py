"""DuckDB's memory while ingesting: a fixed allowance beyond the primary-key index of the events
the store holds, following the store as batches commit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from pkgate.config import Config, Storage
from pkgate.ingest import batch
from pkgate.ingest.batch import StoreBatches
from pkgate.ingest.detect import detect
from pkgate.ingest.reader import open_log
from pkgate.ingest.run import Options, ingest
from pkgate.ingest.work import Worker
from pkgate.store.rows import Rows


def _log(path: Path, first: int, count: int) -> Path:
    """Lines `first`.. of a log, a second apart, all before now (later ones are rejected)."""
    now = time.time() - 600 - (first + count)
    lines = []
    for i in range(first, first + count):
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now + i))
        lines.append(f'192.0.2.{i % 200} - - [{stamp}] "GET /simple/p{i}/ HTTP/1.1" 200 0 "-" "pip/24.2"\n')
    path.write_text("".join(lines))
    return path


def _limit_mib(con: duckdb.DuckDBPyConnection) -> str:
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def test_the_memory_limit_grows_with_the_events_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "MEMORY_LIMIT", 48 << 20)
    monkeypatch.setattr(batch, "INDEX_BYTES", 1 << 20)  # a MiB an event, so the setting reads exactly
    monkeypatch.setattr(batch, "HOLD_SECONDS", 3600.0)  # the connection outlives the commit
    cfg = Config(storage=Storage(data_dir=str(tmp_path / "data")))
    assert ingest(cfg, [str(_log(tmp_path / "a.log", 0, 3))], Options(jobs=1)).stored == 3

    log = open_log(str(_log(tmp_path / "b.log", 3, 2)))
    worker = Worker(cfg, os.urandom(32), int(time.time() * 1e6), False)
    store = StoreBatches(cfg.paths.store)
    try:
        parser = detect((tmp_path / "b.log").read_text().splitlines(), cfg.ingest.json_fields)
        rows = worker.run(next(log.chunks()), log.identity, parser, "log:b").rows
        store.add(rows)
        assert store._con is None  # the batch is inserted whole, when it is committed
        assert _limit_mib(store._connection()) == "51.0 MiB"  # 48 + the 3 events stored when it connected
        assert store.commit() == 2
        assert store._con is not None
        assert _limit_mib(store._con) == "53.0 MiB"  # re-set after the commit
        store.close()
        store._connection()
        assert store._con is not None
        assert _limit_mib(store._con) == "53.0 MiB"  # counted again on connecting
    finally:
        store.close()
        worker.close()
        log.close()


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> int:
    """Row groups of 2,048 rows (DuckDB's smallest), batches of two, chunks of ~700 lines: most
    batches end inside a chunk."""
    from pkgate.ingest import run

    monkeypatch.setattr(batch, "ROW_GROUP_ROWS", 2048)
    monkeypatch.setattr(batch, "BATCH_ROWS", 4096)
    monkeypatch.setattr(run, "WORK_BYTES", 70_000)
    return 4096


def test_batches_are_whole_row_groups_and_no_wal_is_left(tmp_path: Path, small_batches: int) -> None:
    cfg = Config(storage=Storage(data_dir=str(tmp_path / "data")))
    s = ingest(cfg, [str(_log(tmp_path / "a.log", 0, 10_000))], Options(jobs=1))
    assert (s.lines, s.stored) == (10_000, 10_000)
    wal = Path(f"{cfg.paths.store}.wal")
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed: nothing for the next open to replay
    con = duckdb.connect(str(cfg.paths.store), read_only=True)
    try:
        groups = con.execute(
            "SELECT row_group_id, max(count) FROM pragma_storage_info('event_rows') GROUP BY ALL ORDER BY 1"
        ).fetchall()
        assert con.execute("SELECT count(DISTINCT id) FROM events").fetchone() == (10_000,)
    finally:
        con.close()
    # 10,000 = 4 * 2,048 + 1,808: four full groups, then the last batch's rest
    assert [n for _, n in groups] == [2048, 2048, 2048, 2048, 1808]


def test_a_run_stopped_after_a_batch_that_ended_inside_a_chunk_loses_nothing(
    tmp_path: Path, small_batches: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress is recorded where the chunk before the batch's end ended: the next run reads the
    lines after it again, stores what the stopped run did not, and counts the rest as already
    stored."""
    cfg = Config(storage=Storage(data_dir=str(tmp_path / "data")))
    log = _log(tmp_path / "a.log", 0, 10_000)
    commit = StoreBatches.commit
    calls = 0

    def stopped_at_the_third(self: StoreBatches) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt
        return commit(self)

    monkeypatch.setattr(StoreBatches, "commit", stopped_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        ingest(cfg, [str(log)], Options(jobs=1))
    monkeypatch.setattr(StoreBatches, "commit", commit)
    stored = 2 * small_batches  # two whole batches committed, the third rolled back

    again = ingest(cfg, [str(log)], Options(jobs=1))
    assert 0 < again.skipped < stored  # the second batch ended inside a chunk: its lines are read again
    assert again.lines == 10_000 - again.skipped
    assert again.stored == 10_000 - stored
    assert again.duplicates == stored - again.skipped
    con = duckdb.connect(str(cfg.paths.store), read_only=True)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT id) FROM events").fetchone() == (10_000, 10_000)
    finally:
        con.close()


def test_agents_another_writer_dropped_are_inserted_again(tmp_path: Path) -> None:
    """Between two connections the gateway's loader may run retention, which drops the agents no
    event names: what this ingest inserted before is inserted again, never assumed."""
    from pkgate.store.rows import to_rows
    from tests.insights.data import D1, PIP, at, ev

    store = StoreBatches(tmp_path / "s.duckdb")
    try:
        store.add(to_rows([ev(at(D1, 10), "a", "n", "file", version="1", user_agent=PIP)]))
        assert store.commit() == 1
        store.close()
        other = duckdb.connect(str(tmp_path / "s.duckdb"))
        other.execute("DELETE FROM event_rows")
        other.execute("DELETE FROM agents")
        other.close()
        store.add(to_rows([ev(at(D1, 11), "b", "n", "file", version="1", user_agent=PIP)]))
        assert store.commit() == 1
        store.close()
    finally:
        store.close()
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    assert con.execute("SELECT source_id, installer FROM events").fetchall() == [("b", "pip")]
    con.close()


def test_a_batch_is_one_insert_of_its_chunks_whatever_their_dictionaries(tmp_path: Path) -> None:
    """Chunks' text columns are Arrow dictionaries with 16- or 32-bit indices (by how many distinct
    values the chunk has): a batch of both kinds goes in whole, each event once."""
    cfg = Config(storage=Storage(data_dir=str(tmp_path / "data")))
    worker = Worker(cfg, os.urandom(32), int(time.time() * 1e6), False)
    store = StoreBatches(cfg.paths.store)
    made = []
    try:
        for name, first in (("a.log", 0), ("b.log", 20)):
            log = open_log(str(_log(tmp_path / name, first, 20)))
            parser = detect((tmp_path / name).read_text().splitlines(), cfg.ingest.json_fields)
            rows = worker.run(next(log.chunks()), log.identity, parser, "log:b").rows
            log.close()
            assert rows is not None
            made.append(rows)
        narrow, wide = made
        assert pa.types.is_dictionary(narrow.events.schema.field("path").type)
        widened = pa.schema(
            [
                pa.field(f.name, pa.dictionary(pa.int32(), f.type.value_type))
                if pa.types.is_dictionary(f.type)
                else f
                for f in wide.events.schema
            ]
        )
        store.add(narrow)
        store.add(Rows(wide.events.cast(widened), wide.agents))
        assert store._con is None
        assert store.commit() == 40
    finally:
        store.close()
        worker.close()
    con = duckdb.connect(str(cfg.paths.store), read_only=True)
    got = con.execute(
        "SELECT count(DISTINCT id), count(DISTINCT path), min(installer) FROM events"
    ).fetchone()
    con.close()
    assert got == (40, 40, "pip")
