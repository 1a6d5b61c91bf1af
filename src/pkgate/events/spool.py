"""The durable spool: append-only segment files, group commit, crash recovery.

An event counts as recorded once its frame is in a segment file (written with one `write` per
batch, before the client gets its answer). That survives `kill -9` of the gateway; `fsync` decides
what survives a machine crash: "always" (before answering), "batched" (every `fsync_interval`),
"off" (the OS decides).

Frame: `u32 length | u32 crc32(payload) | payload` (msgpack Event), little endian. Each writer
process owns its segments (`<writer>-<seq>.seg`); a full or closed segment is renamed to
`.sealed`. Readers never trust the tail of an open segment: an incomplete frame there is simply not
yet written. In a sealed segment a bad tail is a torn write from a crash and is reported, then
skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from pkgate.errors import SpoolError
from pkgate.fsutil import atomic_write, fsync_dir

_HEADER = struct.Struct("<II")
#: Frames larger than this are corruption, not events (an event is < 4 KiB).
MAX_FRAME = 1 << 20
OPEN, SEALED = ".seg", ".sealed"
_SEGMENT = re.compile(r"^(?P<writer>[A-Za-z0-9_.-]+)-(?P<seq>\d{8})\.(seg|sealed)$")

FsyncMode = Literal["always", "batched", "off"]


def frame(payload: bytes) -> bytes:
    """One spool frame around an encoded event."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


class SegmentWriter:
    """Appends frames to this process's current segment; rolls over at `segment_bytes`.

    Thread-safe: `write` and `sync` may be called from different threads (fsync off the loop).
    """

    def __init__(self, directory: Path, writer_id: str, segment_bytes: int = 64 << 20) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", writer_id):
            raise SpoolError(f"spool writer id {writer_id!r} has characters not allowed in a file name")
        self.directory = directory
        self.writer_id = writer_id
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._seq = 0
        self._fd = -1
        self._size = 0
        self._path: Path | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {directory}: {exc}") from None
        self._open_next()

    def _open_next(self) -> None:
        self._seq += 1
        self._path = self.directory / f"{self.writer_id}-{self._seq:08d}{OPEN}"
        try:
            self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
            fsync_dir(self.directory)
        except OSError as exc:
            raise SpoolError(f"cannot create spool segment {self._path}: {exc}") from None
        self._size = 0

    def write(self, data: bytes) -> None:
        """Write whole frames with as few syscalls as the kernel allows; roll when full."""
        with self._lock:
            if self._fd < 0:
                raise SpoolError("spool writer is closed")
            view = memoryview(data)
            try:
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
            except OSError as exc:
                raise SpoolError(f"cannot write spool segment {self._path}: {exc}") from None
            self._size += len(data)
            if self._size >= self.segment_bytes:
                self._seal_current()
                self._open_next()

    def sync(self) -> None:
        """fsync without holding the write lock: a slow disk must not stall the event loop's writes.

        A duplicate descriptor keeps the file open even if a rollover closes `_fd` meanwhile (the
        rollover fsyncs the sealed segment itself).
        """
        with self._lock:
            if self._fd < 0:
                return
            fd = os.dup(self._fd)
        try:
            os.fsync(fd)
        except OSError as exc:
            raise SpoolError(f"cannot fsync spool segment {self._path}: {exc}") from None
        finally:
            os.close(fd)

    def _seal_current(self) -> None:
        assert self._path is not None
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        os.rename(self._path, self._path.with_suffix(SEALED))
        fsync_dir(self.directory)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                try:
                    self._seal_current()
                except OSError as exc:
                    raise SpoolError(f"cannot seal spool segment {self._path}: {exc}") from None


class GroupCommitter:
    """Batches frames appended during one event-loop turn into one write (group commit).

    `append` returns a future that resolves once the frame is durable per the fsync mode, so a
    handler can await it before answering. Only one write is in flight at a time.
    """

    def __init__(
        self, writer: SegmentWriter, fsync: FsyncMode = "batched", fsync_interval: float = 0.2
    ) -> None:
        self.writer = writer
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self._buf: list[bytes] = []
        self._waiter: asyncio.Future[None] | None = None
        self._busy = False
        self._dirty = False
        self._ticker: asyncio.Task[None] | None = None
        self.batches = 0  # group commits done, for metrics

    def start(self) -> None:
        if self.fsync == "batched" and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def append(self, data: bytes) -> asyncio.Future[None]:
        self._buf.append(data)
        if self._waiter is None:
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            if not self._busy:
                loop.call_soon(self._flush)
        return self._waiter

    def _flush(self) -> None:
        waiter, self._waiter = self._waiter, None
        data, self._buf = b"".join(self._buf), []
        if waiter is None:
            return
        if self.fsync == "always":
            self._busy = True
            loop = asyncio.get_running_loop()
            task = loop.run_in_executor(None, self._write_sync, data)
            task.add_done_callback(lambda t: self._done(waiter, t.exception()))
            return
        try:
            self.writer.write(data)
        except SpoolError as exc:
            waiter.set_exception(exc)
            return
        self._dirty = True
        self.batches += 1
        waiter.set_result(None)

    def _write_sync(self, data: bytes) -> None:
        self.writer.write(data)
        self.writer.sync()

    def _done(self, waiter: asyncio.Future[None], exc: BaseException | None) -> None:
        self._busy = False
        if exc is not None:
            waiter.set_exception(exc)
        else:
            self.batches += 1
            waiter.set_result(None)
        if self._waiter is not None:
            asyncio.get_running_loop().call_soon(self._flush)

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.fsync_interval)
            if self._dirty:
                self._dirty = False
                with contextlib.suppress(SpoolError):
                    await loop.run_in_executor(None, self.writer.sync)

    async def aclose(self) -> None:
        """Flush what is pending, stop the ticker and seal the segment."""
        while self._waiter is not None or self._busy:
            await asyncio.sleep(0.001)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.writer.close()


# ---- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    path: Path
    name: str  # stable key: file name without the .seg/.sealed suffix
    sealed: bool


def list_segments(directory: Path) -> list[Segment]:
    """Segments in write order (writer id, then sequence)."""
    out = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        m = _SEGMENT.match(entry.name)
        if m:
            p = Path(entry.path)
            out.append(Segment(p, p.stem, entry.name.endswith(SEALED)))
    out.sort(key=lambda s: s.name)
    return out


def seal_all(directory: Path) -> int:
    """Seal every open segment: call only when no writer runs (after a crash, before start)."""
    n = 0
    for seg in list_segments(directory):
        if not seg.sealed:
            os.rename(seg.path, seg.path.with_suffix(SEALED))
            n += 1
    if n:
        fsync_dir(directory)
    return n


@dataclass
class ReadResult:
    payloads: list[bytes]
    offsets: list[int]  # end offset after each payload
    end: int  # offset after the last complete, valid frame
    corrupt: str | None  # description when a sealed segment has a bad frame at `end`


def read_frames(segment: Segment, offset: int, limit: int) -> ReadResult:
    """Read up to `limit` complete, checksummed frames starting at `offset`."""
    payloads: list[bytes] = []
    offsets: list[int] = []
    try:
        with open(segment.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(max(limit, 1) * 512)
            pos, base = 0, offset
            while len(payloads) < limit:
                if len(data) - pos < _HEADER.size:
                    more = fh.read(1 << 16)
                    if not more:
                        break
                    data = data[pos:] + more
                    base += pos
                    pos = 0
                    continue
                length, crc = _HEADER.unpack_from(data, pos)
                if length > MAX_FRAME:
                    return _bad(payloads, offsets, base + pos, segment, f"frame length {length}")
                need = pos + _HEADER.size + length
                while len(data) < need:
                    more = fh.read(max(need - len(data), 1 << 16))
                    if not more:
                        break
                    data += more
                if len(data) < need:
                    break
                payload = data[pos + _HEADER.size : need]
                if zlib.crc32(payload) != crc:
                    return _bad(payloads, offsets, base + pos, segment, "checksum mismatch")
                payloads.append(payload)
                pos = need
                offsets.append(base + pos)
    except OSError as exc:
        raise SpoolError(f"cannot read spool segment {segment.path}: {exc}") from None
    end = offsets[-1] if offsets else offset
    trailing = None
    if segment.sealed and len(payloads) < limit:
        size = segment.path.stat().st_size
        if end < size:
            trailing = f"{size - end} trailing bytes after offset {end} (torn write)"
    return ReadResult(payloads, offsets, end, trailing)


def _bad(payloads: list[bytes], offsets: list[int], at: int, segment: Segment, what: str) -> ReadResult:
    end = offsets[-1] if offsets else at
    why = f"{what} at offset {at}" if segment.sealed else None
    return ReadResult(payloads, offsets, end, why)


def iter_all(directory: Path) -> Iterator[tuple[Segment, bytes]]:
    """Every valid frame of every segment (for tools and tests)."""
    for seg in list_segments(directory):
        offset = 0
        while True:
            res = read_frames(seg, offset, 10_000)
            for p in res.payloads:
                yield seg, p
            if not res.payloads:
                break
            offset = res.end


# ---- progress, shared between the loader (writes) and the edge's health check (reads) -----------

PROGRESS_FILE = "progress.json"


def write_progress(directory: Path, offsets: dict[str, int]) -> None:
    """Atomically publish how far the loader got in each segment (for lag reporting only)."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / PROGRESS_FILE, msgspec.json.encode(offsets), fsync=False)


def read_progress(directory: Path) -> dict[str, int]:
    try:
        return msgspec.json.decode((directory / PROGRESS_FILE).read_bytes(), type=dict[str, int])
    except (FileNotFoundError, msgspec.DecodeError):
        return {}


def pending_frames(directory: Path, cap: int = 1_000_000) -> int:
    """Frames written but not yet loaded, by walking frame headers from the loader's offsets."""
    progress = read_progress(directory)
    total = 0
    for seg in list_segments(directory):
        offset = progress.get(seg.name, 0)
        try:
            with open(seg.path, "rb") as fh:
                fh.seek(offset)
                while total < cap:
                    head = fh.read(_HEADER.size)
                    if len(head) < _HEADER.size:
                        break
                    length, _ = _HEADER.unpack(head)
                    if length > MAX_FRAME:
                        break
                    fh.seek(length, os.SEEK_CUR)
                    total += 1
        except FileNotFoundError:
            continue
    return total
