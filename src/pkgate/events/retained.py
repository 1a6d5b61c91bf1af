"""Loaded spool segments kept for a while, so the store is a cache of the spool, not the only copy.

Once the loader has consumed a sealed segment, it is moved to `<spool>/loaded/` instead of deleted,
and kept for `storage.spool_retention_days` and at most `storage.spool_retention_bytes` (oldest go
first). `pkgate rebuild` (pkgate.store.rebuild) re-creates a store from them.

Erasure holds here too: the erased ids live in a plain file beside the store (`ErasureList`, so a
damaged store cannot lose them), `pkgate erase` rewrites every retained segment holding their
events, and a segment retained later is filtered on the way in. Rewrites are atomic (a complete
new file renamed over the old), so a crash leaves the old or the new segment, never half of one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import msgspec

from pkgate.events.model import Event
from pkgate.events.spool import SEALED, Segment, frame, list_segments, read_frames
from pkgate.fsutil import atomic_write, fsync_dir

LOADED: Final = "loaded"
_DAY_S: Final = 86400.0
_decoder = msgspec.msgpack.Decoder(Event)


class ErasureList:
    """The erased source/network ids, one per line, outside the DuckDB file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> set[str]:
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return set()
        return {line.strip() for line in text.splitlines() if line.strip()}

    def add(self, ids: Iterable[str]) -> set[str]:
        """Remember these ids (durably, before anything is deleted); return the whole list."""
        with _locked(self.path.with_name(self.path.name + ".lock")):
            every = self.load() | set(ids)
            atomic_write(self.path, "".join(f"{i}\n" for i in sorted(every)).encode("ascii"))
        return every


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


class Retained:
    """The `loaded/` directory of one spool."""

    def __init__(
        self, spool_dir: Path, days: float, max_bytes: int, erasures: ErasureList, reserve: float = 0.1
    ) -> None:
        self.directory = spool_dir / LOADED
        self.days = days
        self.max_bytes = max_bytes
        self.erasures = erasures
        #: Fraction of the spool's file system kept free: copies never make the spool refuse events.
        self.reserve = reserve

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return _locked(self.directory / ".lock")

    def segments(self) -> list[Segment]:
        return list_segments(self.directory)

    def keep(self, seg: Segment) -> None:
        """Move a consumed sealed segment here (filtered by the erasure list), then prune."""
        if self.days <= 0 or self.max_bytes <= 0:
            seg.path.unlink()
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock():
            erased = self.erasures.load()
            if erased:
                _filter(seg.path, erased)
            os.rename(seg.path, self.directory / (seg.name + SEALED))
            fsync_dir(self.directory)
            fsync_dir(seg.path.parent)
            self._prune()

    def prune(self) -> int:
        with self._lock():
            return self._prune()

    def _prune(self, now: float | None = None) -> int:
        """Delete the oldest segments beyond the age or size limit, or while the file system has
        less than `reserve` free (retained copies must never fill the spool's disk); return how many."""
        now = time.time() if now is None else now
        entries = []
        for seg in self.segments():
            with contextlib.suppress(FileNotFoundError):
                st = seg.path.stat()
                entries.append((st.st_mtime, seg.path, st.st_size))
        entries.sort()  # oldest first; ties in write order (the names sort that way)
        total = sum(size for _, _, size in entries)
        gone = 0
        for mtime, path, size in entries:
            if now - mtime <= self.days * _DAY_S and total <= self.max_bytes and not self._short():
                break
            path.unlink(missing_ok=True)
            total -= size
            gone += 1
        return gone

    def _short(self) -> bool:
        try:
            st = os.statvfs(self.directory)
        except OSError:
            return False
        return st.f_bavail < self.reserve * st.f_blocks

    def erase(self, ids: set[str]) -> int:
        """Rewrite every retained segment holding events of these ids without them; return how many
        events were removed."""
        if not self.directory.exists():
            return 0
        with self._lock():
            return sum(_filter(seg.path, ids) for seg in self.segments())


def _filter(path: Path, ids: set[str]) -> int:
    """Drop the frames of events whose source or network id is in `ids`; atomic, keeps mtime."""
    data = path.read_bytes()
    if not any(i.encode() in data for i in ids):  # C-speed scan: most segments hold none of them
        return 0
    seg = Segment(path, path.stem, sealed=True)
    kept: list[bytes] = []
    removed, offset = 0, 0
    while True:
        res = read_frames(seg, offset, 10_000)
        for payload in res.payloads:
            try:
                event = _decoder.decode(payload)
            except (msgspec.DecodeError, msgspec.ValidationError):
                kept.append(frame(payload))  # not an event: the loader's rejects deal with it
                continue
            if event.source_id in ids or event.network_id in ids:
                removed += 1
            else:
                kept.append(frame(payload))
        if res.corrupt or not res.payloads:
            kept.append(data[res.end :])  # keep a damaged tail as it was (reported when loaded)
            break
        offset = res.end
    if removed:
        st = path.stat()
        atomic_write(path, b"".join(kept))
        os.utime(path, (st.st_atime, st.st_mtime))  # retention ages by the original time
    return removed
