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

import contextlib
import logging
import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import msgspec

from pkgate.errors import SpoolError
from pkgate.fsutil import atomic_write, fsync_dir

log = logging.getLogger("pkgate.spool")

_HEADER = struct.Struct("<II")
#: Frames larger than this are corruption, not events (an event is < 4 KiB).
MAX_FRAME = 1 << 20
OPEN, SEALED = ".seg", ".sealed"
_SEGMENT = re.compile(r"^(?P<writer>[A-Za-z0-9_.-]+)-(?P<seq>\d{8})\.(seg|sealed)$")

FsyncMode = Literal["always", "batched", "off"]


#: Bytes before the payload in a frame. Encode an event into a bytearray from this offset and
#: `seal` it: the frame is made without copying the payload (the edge's hot path does).
HEADER_SIZE = _HEADER.size


def frame(payload: bytes) -> bytes:
    """One spool frame around an encoded event."""
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def seal(buf: bytearray) -> bytearray:
    """`buf` made a frame: its first HEADER_SIZE bytes (reserved) filled in for the payload after them."""
    _HEADER.pack_into(buf, 0, len(buf) - HEADER_SIZE, zlib.crc32(memoryview(buf)[HEADER_SIZE:]))
    return buf


class SegmentWriter:
    """Appends frames to this process's current segment; rolls over at `segment_bytes`.

    Thread-safe: `write` and `sync` may be called from different threads (fsync off the loop).
    A failed write leaves no partial frame behind (the segment is cut back to its last whole
    frame), so the frames after it stay readable; a failed rollover keeps the written data and is
    retried on the next write. Either way the next write after the cause is gone succeeds.
    """

    def __init__(self, directory: Path, writer_id: str, segment_bytes: int = 64 << 20) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", writer_id):
            raise SpoolError(f"spool writer id {writer_id!r} has characters not allowed in a file name")
        self.directory = directory
        self.writer_id = writer_id
        self.segment_bytes = segment_bytes
        self.rollover_errors = 0  # rollovers that failed (the data was written; retried later)
        self._lock = threading.Lock()
        self._seq = 0
        self._fd = -1
        self._size = 0
        self._path: Path | None = None
        self._unsealed: Path | None = None  # closed segment whose rename to .sealed failed
        self._closed = False
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {directory}: {exc}") from None
        self._open_next()

    def _open_next(self) -> None:
        if self._unsealed is not None:
            self._rename_sealed(self._unsealed)
        self._seq += 1
        path = self.directory / f"{self.writer_id}-{self._seq:08d}{OPEN}"
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL, 0o600)
            fsync_dir(self.directory)
        except OSError as exc:
            raise SpoolError(f"cannot create spool segment {path}: {exc}") from None
        self._path = path
        self._size = 0

    def write(self, data: bytes) -> None:
        """Write whole frames with as few syscalls as the kernel allows; roll when full."""
        with self._lock:
            if self._closed:
                raise SpoolError("spool writer is closed")
            if self._fd < 0:  # an earlier rollover could not open the next segment
                self._open_next()
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:
                self._cut_back()
                raise SpoolError(f"cannot write spool segment {self._path}: {exc}") from None
            self._size += len(data)
            if self._size >= self.segment_bytes:
                try:
                    self._seal_current()
                    self._open_next()
                except SpoolError as exc:
                    self.rollover_errors += 1
                    log.error("spool rollover failed (the batch was written; retried next write): %s", exc)

    def _cut_back(self) -> None:
        """Remove a partial batch so no torn frame sits between whole ones; if even that fails,
        retire the segment (its tail is reported as torn when read) and start a new one later."""
        try:
            os.ftruncate(self._fd, self._size)
        except OSError:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)
            assert self._path is not None
            self._unsealed = self._path

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
        try:
            os.fsync(self._fd)  # fails: the segment stays open and in use
            os.close(self._fd)
        except OSError as exc:
            raise SpoolError(f"cannot seal spool segment {self._path}: {exc}") from None
        self._fd = -1
        self._rename_sealed(self._path)

    def _rename_sealed(self, path: Path) -> None:
        try:
            os.rename(path, path.with_suffix(SEALED))
            fsync_dir(self.directory)
        except OSError as exc:
            self._unsealed = path
            raise SpoolError(f"cannot seal spool segment {path}: {exc}") from None
        self._unsealed = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._fd >= 0:
                self._seal_current()
            elif self._unsealed is not None:
                self._rename_sealed(self._unsealed)


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
                    data, base, pos = _refill(fh, data, base, pos, _HEADER.size)
                    if len(data) - pos < _HEADER.size:
                        break
                length, crc = _HEADER.unpack_from(data, pos)
                if length > MAX_FRAME:
                    return _bad(payloads, offsets, base + pos, segment, f"frame length {length}")
                need = _HEADER.size + length
                if len(data) - pos < need:
                    data, base, pos = _refill(fh, data, base, pos, need)
                    if len(data) - pos < need:
                        break
                payload = data[pos + _HEADER.size : pos + need]
                if zlib.crc32(payload) != crc:
                    return _bad(payloads, offsets, base + pos, segment, "checksum mismatch")
                payloads.append(payload)
                pos += need
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


def _refill(fh: BinaryIO, data: bytes, base: int, pos: int, need: int) -> tuple[bytes, int, int]:
    """(data, base, pos) with what was consumed dropped and at least `need` bytes from `pos` read
    (fewer at the end of the file). Only the unconsumed rest is copied: a frame straddling the
    buffer's end used to copy the whole buffer, once per 64 KiB read (quadratic in the batch)."""
    chunks, have = [data[pos:]], len(data) - pos
    while have < need:
        more = fh.read(max(need - have, 1 << 20))
        if not more:
            break
        chunks.append(more)
        have += len(more)
    return b"".join(chunks), base + pos, 0


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


def pending_frames(directory: Path, sample: int = 64) -> int:
    """Frames written but not yet loaded, at bounded cost (it runs on the event loop for /healthz).

    One stat per segment gives the pending bytes (size minus the loader's offset); frame headers
    are walked only for the first `sample` pending frames. Up to that many the count is exact;
    beyond, the rest is estimated from the pending bytes and the mean size of the sampled frames.
    """
    progress = read_progress(directory)
    counted = counted_bytes = uncounted_bytes = 0
    for seg in list_segments(directory):
        try:
            size = seg.path.stat().st_size
        except FileNotFoundError:
            continue  # consumed meanwhile
        offset = min(progress.get(seg.name, 0), size)
        if offset >= size:
            continue
        if counted >= sample:
            uncounted_bytes += size - offset
            continue
        n, walked = _count_frames(seg.path, offset, size, sample - counted)
        counted += n
        counted_bytes += walked
        uncounted_bytes += size - offset - walked
    if not uncounted_bytes or not counted:
        return counted
    return counted + round(uncounted_bytes * counted / counted_bytes)


def _count_frames(path: Path, offset: int, size: int, limit: int) -> tuple[int, int]:
    """(frames, bytes they span) from `offset`, at most `limit` frames; a frame whose header is
    there counts even if its body is still being written (as before); the walk covers to the end then."""
    n, pos = 0, offset
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            while n < limit and pos < size:
                head = fh.read(_HEADER.size)
                if len(head) < _HEADER.size:
                    return n, size - offset
                length, _ = _HEADER.unpack(head)
                if length > MAX_FRAME:
                    return n, size - offset  # corruption: the loader reports it; not frames
                n += 1
                pos += _HEADER.size + length
                fh.seek(pos)
    except FileNotFoundError:
        return n, size - offset
    return n, min(pos, size) - offset
