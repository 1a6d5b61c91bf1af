"""DuckDB's memory while ingesting: a fixed allowance beyond the primary-key index of the events
the store holds, following the store as batches commit."""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb
import pytest

from pkgate.config import Config, Storage
from pkgate.ingest import batch
from pkgate.ingest.batch import StoreBatches
from pkgate.ingest.detect import detect
from pkgate.ingest.reader import open_log
from pkgate.ingest.run import Options, ingest
from pkgate.ingest.work import Worker


def _log(path: Path, first: int, count: int) -> Path:
    now = time.time() - 600
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
        table = worker.run(next(log.chunks()), log.identity, parser, "log:b").table
        store.add(table)
        assert store._con is not None
        assert _limit_mib(store._con) == "51.0 MiB"  # 48 + the 3 events stored when it connected
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
