"""The store is a cache of the spool: retained segments, folded rollups and the erasure list give
back the same store after it is damaged; erasure holds through all of it."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path

import duckdb
import pytest

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.events import Event, encode
from pkgate.events.retained import LOADED, ErasureList, Retained
from pkgate.events.spool import SegmentWriter, frame, iter_all, list_segments
from pkgate.store import erase
from pkgate.store.loader import StoreDamaged, connect
from pkgate.store.rebuild import local_loader, rebuild
from pkgate.store.rollups import apply_retention, refresh_rollups
from pkgate.storestate import read_state
from tests.events.test_spool import make_event

NOW = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def config(tmp_path: Path, **storage: object) -> Config:
    lines = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in storage.items())
    return config_mod.parse(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n{lines}', "test.toml")


def day_us(days_ago: int, second: int = 0) -> int:
    return int((NOW - dt.timedelta(days=days_ago)).timestamp() * 1_000_000) + second * 1_000_000


def spool(cfg: Config, events: list[Event], writer: str = "w") -> None:
    w = SegmentWriter(cfg.paths.spool, writer, segment_bytes=4096)
    for e in events:
        w.write(frame(encode(e)))
    w.close()


def ids(db: Path) -> set[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT CAST(id AS VARCHAR), count(*) OVER () FROM events").fetchall()
    finally:
        con.close()
    return {r[0].replace("-", "") for r in rows}


def week(n: int = 40) -> list[Event]:
    """Events over 7 days, from 4 sources."""
    return [
        make_event(i, ts_us=day_us(i % 7, i), source_id=f"{i % 4:08x}", network_id=f"{9:08x}")
        for i in range(n)
    ]


def test_loaded_segments_are_retained_and_pruned_by_age_and_size(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    spool(cfg, week(200))
    assert local_loader(cfg).run_once() == 200
    kept = list_segments(cfg.paths.spool / LOADED)
    assert len(kept) > 3
    assert all(s.sealed for s in kept)
    assert list_segments(cfg.paths.spool) == []
    retained = Retained(cfg.paths.spool, 30, 10**9, ErasureList(tmp_path / "e"))
    old = time.time() - 31 * 86400
    os.utime(kept[0].path, (old, old))
    assert retained.prune() == 1  # older than 30 days
    sizes = [s.path.stat().st_size for s in retained.segments()]
    small = Retained(cfg.paths.spool, 30, sum(sizes[-2:]), ErasureList(tmp_path / "e"))
    assert small.prune() == len(sizes) - 2  # the oldest go until the rest fits
    assert [s.name for s in small.segments()] == [s.name for s in kept[-2:]]


def test_retention_off_deletes_segments_once_loaded(tmp_path: Path) -> None:
    cfg = config(tmp_path, spool_retention_days=0)
    spool(cfg, week(50))
    local_loader(cfg).run_once()
    assert not (cfg.paths.spool / LOADED).exists() or not list_segments(cfg.paths.spool / LOADED)
    assert len(ids(cfg.paths.store)) == 50


def snapshot(db: Path) -> tuple[set[str], list[tuple[object, ...]], list[tuple[object, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        daily = con.execute("SELECT * FROM rollup_daily ORDER BY ALL").fetchall()
        state = con.execute("SELECT day, events, folded FROM rollup_state ORDER BY day").fetchall()
    finally:
        con.close()
    return ids(db), daily, state


def test_a_damaged_store_is_moved_aside_and_rebuilt_with_folded_days(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = config(tmp_path)
    spool(cfg, week())
    loader = local_loader(cfg)
    loader.run_once()
    con = loader.connect()
    assert apply_retention(con, 3, now=NOW) > 0  # days 4..6 ago folded, their events deleted
    con.close()
    before = snapshot(cfg.paths.store)
    assert any(folded for _, _, folded in before[2])
    assert len(list((cfg.paths.root / "rollups" / "rollup_daily").glob("*.parquet"))) == 3
    damaged = cfg.paths.store.read_bytes()
    cfg.paths.store.write_bytes(damaged[:12288] + b"\xde\xad" * 4096 + damaged[12288 + 8192 :])
    with pytest.raises(StoreDamaged):
        connect(cfg.paths.store)
    caplog.set_level(logging.CRITICAL, "pkgate.store")
    con = local_loader(cfg).connect()  # the supervisor's loader: move aside, rebuild, open
    con.close()
    assert "STORE DAMAGED" in caplog.text
    assert snapshot(cfg.paths.store) == before
    state = read_state(cfg.paths.root)
    assert state.rebuilds == 1
    assert not state.rebuilding
    aside = Path(state.moved_to)
    assert aside.parent.name == "store-aside"
    assert aside.read_bytes()[:100] == damaged[:100]  # kept


def test_pkgate_rebuild_gives_the_same_store_and_keeps_the_old_one(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    spool(cfg, week())
    loader = local_loader(cfg)
    loader.run_once()
    con = loader.connect()
    refresh_rollups(con)
    con.close()
    before = snapshot(cfg.paths.store)
    seen: list[tuple[int, int]] = []
    result = rebuild(cfg, lambda done, total: seen.append((done, total)))
    assert snapshot(cfg.paths.store) == before
    assert result.events == len(before[0]) == 40
    assert Path(result.moved_to).exists()
    assert seen[-1][0] == seen[-1][1] > 0  # the progress reached the end


def segment_sources(cfg: Config) -> set[str | None]:
    from pkgate.events import decode

    return {decode(p).source_id for _, p in iter_all(cfg.paths.spool / LOADED)}


def test_erasure_survives_a_damaged_store_and_every_rebuild(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    events = week()
    spool(cfg, events)
    loader = local_loader(cfg)
    loader.run_once()
    con = loader.connect()
    apply_retention(con, 3, now=NOW)
    gone = f"{1:08x}"
    erase(con, [gone])
    con.close()
    assert gone in ErasureList(cfg.paths.root / "erasures").load()  # outside the DuckDB file
    assert gone not in segment_sources(cfg)  # retained segments rewritten
    assert {f"{i:08x}" for i in (0, 2, 3)} <= segment_sources(cfg)
    # late events of the erased source, still in the spool at erase time, are filtered on retain
    spool(cfg, [make_event(99, ts_us=day_us(0), source_id=gone)], writer="late")
    local_loader(cfg).run_once()
    assert gone not in segment_sources(cfg)
    # damage the store: the rebuild must not bring the source back (events nor folded rollups)
    cfg.paths.store.write_bytes(b"not a store" * 1000)
    rebuild(cfg)
    con = duckdb.connect(str(cfg.paths.store), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM events WHERE source_id = ?", [gone]).fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM rollup_sources WHERE source_id = ?", [gone]).fetchone() == (
            0,
        )
        kept = con.execute("SELECT count(DISTINCT source_id) FROM rollup_sources").fetchone()
    finally:
        con.close()
    assert kept == (3,)
    expected = {
        e.id for e in events if e.source_id != gone and e.ts_us >= day_us(3) - day_us(3) % 86_400_000_000
    }
    assert ids(cfg.paths.store) == expected


def test_retained_copies_never_fill_the_spool_disk(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    spool(cfg, week(100))
    local_loader(cfg).run_once()
    retained = Retained(cfg.paths.spool, 30, 10**12, ErasureList(tmp_path / "e"))
    assert retained.prune() == 0  # plenty of room here
    greedy = Retained(cfg.paths.spool, 30, 10**12, ErasureList(tmp_path / "e"), reserve=1.0)
    n = len(greedy.segments())
    assert greedy.prune() == n  # a file system never 100 % free: every copy goes
