"""The store is a cache of the spool: rebuild it from retained segments, folded rollups and erasures.

A store that fails to open for a reason that is not the environment (a lock, permissions, a full
disk) is damaged: the supervisor's loader moves it aside (`<data_dir>/store-aside/`, never
deleted), logs it at CRITICAL, records it in `store-state.json` (shown by `/healthz` and
`/metrics`), and rebuilds. `pkgate rebuild` does the same on request, with a progress bar.

A rebuild writes a new file next to the store and renames it into place when complete, so a crash
mid-rebuild leaves no half store under the real name (the next start simply rebuilds again). The
order matters for erasure: the erasure list is loaded first, so the loader's insert drops erased
ids' events from the retained segments, and folded per-source rollups were already rewritten.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec

from pkgate.config import Config
from pkgate.events.retained import ErasureList, Retained
from pkgate.events.spool import read_frames
from pkgate.fsutil import fsync_dir
from pkgate.store.aggregates import DAY
from pkgate.store.folded import import_days
from pkgate.store.loader import Frame, Loader, commit_frames, connect
from pkgate.store.rollups import ensure_rollups, forget_sources, refresh_rollups
from pkgate.store.schema import PRUNE_AGENTS
from pkgate.store.transaction import transaction
from pkgate.storestate import StoreState, read_state, write_state

log = logging.getLogger("pkgate.store")

ASIDE: Final = "store-aside"
#: Progress callback: (bytes done, bytes total).
Progress = Callable[[int, int], None]


class RebuildResult(msgspec.Struct, frozen=True):
    events: int  # events in the rebuilt store
    segments: int  # retained segments read
    folded_days: int  # days restored from folded rollups
    moved_to: str  # where the previous store went ("" if there was none)


def erasure_list(data_dir: Path) -> ErasureList:
    return ErasureList(data_dir / "erasures")


def retained_of(cfg: Config) -> Retained:
    return Retained(
        cfg.paths.spool,
        cfg.storage.spool_retention_days,
        cfg.storage.spool_retention_bytes,
        erasure_list(cfg.paths.root),
    )


def local_loader(cfg: Config) -> Loader:
    """The supervisor's loader: keeps loaded segments, rebuilds a damaged store on its own."""
    loader = Loader(cfg.paths.store, cfg.paths.spool, retained=retained_of(cfg))
    loader.on_damage = lambda reason: recover(cfg, reason)
    return loader


def move_aside(db_path: Path, reason: str) -> Path:
    """Move the store (and its WAL) to `store-aside/`, never deleting anything; return the new path."""
    aside = db_path.parent / ASIDE
    aside.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    dest = aside / f"{db_path.stem}-{stamp}{db_path.suffix}"
    for suffix in ("", ".wal"):
        src = Path(f"{db_path}{suffix}")
        if src.exists():
            os.rename(src, Path(f"{dest}{suffix}"))
    fsync_dir(aside)
    fsync_dir(db_path.parent)
    return dest


def recover(cfg: Config, reason: str) -> RebuildResult:
    """A damaged store: move it aside, say so loudly and in store-state.json, rebuild."""
    root = cfg.paths.root
    moved = move_aside(cfg.paths.store, reason)
    previous = read_state(root)
    state = StoreState(
        rebuilds=previous.rebuilds + 1,
        rebuilding=True,
        last_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        moved_to=str(moved),
        reason=reason[:500],
    )
    write_state(root, state)
    log.critical("STORE DAMAGED, moved aside to %s and rebuilding from the retained spool: %s", moved, reason)
    try:
        result = rebuild(cfg, move_existing=False)
    finally:
        write_state(root, msgspec.structs.replace(state, rebuilding=False))
    log.critical(
        "store rebuilt: %d events from %d retained segments and %d folded days (the damaged store is kept at %s)",
        result.events,
        result.segments,
        result.folded_days,
        moved,
    )
    return msgspec.structs.replace(result, moved_to=str(moved))


def rebuild(cfg: Config, progress: Progress | None = None, *, move_existing: bool = True) -> RebuildResult:
    """Re-create the store from the retained segments, folded rollups and the erasure list.

    Call with the data_dir locked (no loader running). The existing store, if any, is moved aside.
    """
    db_path, root = cfg.paths.store, cfg.paths.root
    fresh = db_path.with_name(db_path.name + ".rebuild")
    for suffix in ("", ".wal"):
        Path(f"{fresh}{suffix}").unlink(missing_ok=True)  # an interrupted earlier rebuild
    retained = retained_of(cfg)
    segments = retained.segments()
    total = sum(s.path.stat().st_size for s in segments)
    erased = sorted(erasure_list(root).load())
    con = connect(fresh)
    try:
        ensure_rollups(con)
        with transaction(con):
            if erased:
                con.executemany(
                    "INSERT OR IGNORE INTO erasures (source_id) VALUES (?)", [[i] for i in erased]
                )
            folded = import_days(con, root / "rollups")
        done = 0
        for seg in segments:
            offset = 0
            while True:
                res = read_frames(seg, offset, 50_000)
                if res.payloads:
                    starts = [offset, *res.offsets[:-1]]
                    frames = [Frame(*f) for f in zip(starts, res.offsets, res.payloads, strict=True)]
                    commit_frames(con, seg.name, frames, progress=False)
                    done += res.end - offset
                    offset = res.end
                    if progress is not None:
                        progress(done, total)
                if res.corrupt or len(res.payloads) < 50_000:
                    break
        with transaction(con):  # folded days answer from their rollups; their events were deleted
            con.execute(
                f"DELETE FROM event_rows WHERE {DAY} IN (SELECT day FROM rollup_state WHERE folded)"  # noqa: S608
            )
            con.execute(PRUNE_AGENTS)
        if erased:
            forget_sources(con, erased)
        refresh_rollups(con)
        row = con.execute("SELECT count(*) FROM event_rows").fetchone()
        con.execute("CHECKPOINT")
    finally:
        con.close()
    moved = ""
    if move_existing and db_path.exists():
        moved = str(move_aside(db_path, "replaced by `pkgate rebuild`"))
    os.rename(fresh, db_path)
    fsync_dir(db_path.parent)
    if progress is not None:
        progress(total, total)
    return RebuildResult(int(row[0]) if row else 0, len(segments), len(folded), moved)


def rebuild_with_progress(cfg: Config) -> RebuildResult:
    """`pkgate rebuild`: the rebuild with a progress bar on stderr (rich), by bytes of spool read."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("rebuilding"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task("rebuild", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return rebuild(cfg, update)
