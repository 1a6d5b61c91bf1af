"""Reading a log: files, `-` (stdin), gzip/bzip2/zstd by their magic bytes, in bounded chunks.

A log is never held whole: it is cut into chunks of whole lines (about `CHUNK_BYTES`), each knowing
the byte offset and number of its first line in the decompressed stream. A line longer than
`MAX_LINE` is skipped (reported as `too-long`) without ever being buffered whole.

A log's identity is a hash of its first line with anything that looks like an address blanked:
the same content has the same identity whatever the file is called or however it is compressed
(`access.log.1` and, later, `access.log.1.gz`), and a log that grew keeps it. Event ids are built
from it, so ingesting the same lines again adds nothing.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import re
import stat
import sys
from collections.abc import Iterator
from typing import BinaryIO, Final

import msgspec
import zstandard

from pkgate.errors import IngestError

__all__ = ["CHUNK_BYTES", "MAX_LINE", "Chunk", "LogInput", "identity_of", "open_log"]

CHUNK_BYTES: Final = 1 << 20
MAX_LINE: Final = 1 << 20
_IDENTITY_BYTES: Final = 64 * 1024
_ADDRESS: Final = re.compile(rb"\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}")


class Chunk(msgspec.Struct, frozen=True):
    """Whole lines `data` starting at byte `offset`, line number `line` (1-based; 0 when not known
    where it is cut, `LogInput.references`: its lines are then numbered from 0); or, with
    `too_long`, one line of `length` bytes that was skipped for its length (data empty); or, with
    `file`, the `length` bytes at `offset` of that uncompressed file, for the worker to read."""

    data: bytes
    offset: int
    line: int
    too_long: bool = False
    file: str | None = None
    length: int = 0

    def read(self) -> bytes:
        """The chunk's lines, read from its file if it is a reference."""
        if self.file is None:
            return self.data
        fd = os.open(self.file, os.O_RDONLY)
        try:
            data = os.pread(fd, self.length, self.offset)
            whole = data.endswith(b"\n") or os.fstat(fd).st_size == self.offset + len(data)
        finally:
            os.close(fd)
        if len(data) != self.length or not whole:  # the last line may be unterminated
            raise IngestError(f"{self.file}: changed while it was ingested; run again")
        return data


def identity_of(first_line: bytes) -> bytes:
    """16 bytes naming a log by its first line, addresses blanked (ids must not encode them)."""
    return hashlib.blake2b(_ADDRESS.sub(b"-", first_line[:_IDENTITY_BYTES]), digest_size=16).digest()


class LogInput:
    """One opened log: its decompressed stream, name, identity, and how far the raw file was read."""

    def __init__(self, name: str, raw: BinaryIO, size: int | None, file: str | None = None) -> None:
        self.name = name
        self._raw = raw
        self.size = size  # of the raw (possibly compressed) file, for the progress bar
        head = raw.peek(4)[:4] if isinstance(raw, io.BufferedReader) else b""
        self.compression = (
            "gzip" if head[:2] == b"\x1f\x8b" else
            "bzip2" if head[:3] == b"BZh" else
            "zstd" if head == b"\x28\xb5\x2f\xfd" else
            ""
        )  # fmt: skip
        stream: BinaryIO
        if self.compression == "gzip":
            stream = gzip.GzipFile(fileobj=raw)  # type: ignore[assignment]
        elif self.compression == "bzip2":
            stream = bz2.BZ2File(raw)  # type: ignore[assignment]
        elif self.compression == "zstd":
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        else:
            stream = raw
        self.stream = stream
        #: The uncompressed regular file this is, which a worker can read a chunk of itself.
        self.file = file if self.compression == "" else None
        self._pending = b""
        self.offset = 0  # decompressed bytes handed out so far
        self.line = 1
        first = self._first_line()
        self.identity = identity_of(first)

    def raw_position(self) -> int:
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def _read(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except (OSError, EOFError, zstandard.ZstdError) as exc:
            raise IngestError(f"{self.name}: cannot read ({self.compression or 'plain'}): {exc}") from None

    def _first_line(self) -> bytes:
        while b"\n" not in self._pending and len(self._pending) < _IDENTITY_BYTES:
            more = self._read(1 << 16)
            if not more:
                break
            self._pending += more
        return self._pending.split(b"\n", 1)[0]

    def first_lines(self, n: int) -> list[bytes]:
        """Up to `n` lines from the start, for format detection (read ahead, not consumed)."""
        while self._pending.count(b"\n") < n and len(self._pending) < 4 * CHUNK_BYTES:
            more = self._read(1 << 16)
            if not more:
                break
            self._pending += more
        return self._pending.split(b"\n")[:n]

    def skip_to(self, offset: int, line: int) -> None:
        """Move to a resume point (a line start at decompressed byte `offset`, line number `line`)."""
        data, pos, last = self._pending, 0, b"\n"
        while pos + len(data) < offset:
            if data:
                last = data[-1:]
            pos += len(data)
            data = self._read(CHUNK_BYTES)
            if not data:
                raise IngestError(
                    f"{self.name}: shorter than when it was ingested before (byte {offset}); "
                    "use --from-start to read it again from the beginning"
                )
        cut = offset - pos
        if (data[cut - 1 : cut] if cut else last) != b"\n":
            raise IngestError(
                f"{self.name}: recorded progress (byte {offset}) is not a line start; use --from-start"
            )
        self._pending = data[cut:]
        self.offset, self.line = offset, line

    def chunks(self, chunk_bytes: int = CHUNK_BYTES, final: bool = True) -> Iterator[Chunk]:
        """Whole-line chunks to the end of the stream. With `final`, an unterminated last line is a
        line too; without (a growing file), it stays pending for the next call."""
        buf = self._pending
        self._pending = b""
        while True:
            cut = buf.rfind(b"\n")
            if cut >= 0 and (len(buf) >= chunk_bytes or cut == len(buf) - 1):
                yield from self._emit(buf[: cut + 1])
                buf = buf[cut + 1 :]
            if len(buf) > MAX_LINE and b"\n" not in buf:
                yield from self._skip_long(buf)
                buf, self._pending = self._pending, b""
            more = self._read(chunk_bytes)
            if not more:
                break
            buf += more
        if buf and final:
            yield from self._emit(buf)
        elif buf:
            cut = buf.rfind(b"\n") + 1  # the complete lines now; the unterminated rest waits
            yield from self._emit(buf[:cut])
            self._pending = buf[cut:]

    def references(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[Chunk]:
        """The rest of this uncompressed file as chunks by reference (`Chunk.file`), cut at line ends
        without reading their lines here: only the bytes before each cut are looked at. Counting
        lines would read every byte, so these chunks are numbered from 0 (`Chunk.line`): whoever
        collects their results in order knows where each starts. A line longer than a chunk is a
        chunk of its own, or, longer than `MAX_LINE`, a `too_long` one, never read whole."""
        if self.file is None:
            raise ValueError("references: not an uncompressed file")
        fd = self._raw.fileno()
        size = os.fstat(fd).st_size
        while self.offset < size:
            start = self.offset
            end = _line_end_before(fd, start, start + chunk_bytes) if start + chunk_bytes < size else size
            one_line = end is None  # longer than a chunk
            if end is None:
                end = _line_end_after(fd, start + chunk_bytes, size)
            self.offset = end
            if one_line and end - start > MAX_LINE:
                yield Chunk(b"", start, 0, too_long=True, length=end - start)
            else:
                yield Chunk(b"", start, 0, file=self.file, length=end - start)
        self._pending = b""

    def _emit(self, data: bytes) -> Iterator[Chunk]:
        if not data:
            return
        yield Chunk(data, self.offset, self.line)
        self.offset += len(data)
        self.line += data.count(b"\n")

    def _skip_long(self, buf: bytes) -> Iterator[Chunk]:
        """Discard one overlong line up to and including its newline; report it as one chunk."""
        start, skipped = self.offset, len(buf)
        tail = b""
        while True:
            more = self._read(CHUNK_BYTES)
            if not more:
                break
            nl = more.find(b"\n")
            if nl >= 0:
                skipped += nl + 1
                tail = more[nl + 1 :]
                break
            skipped += len(more)
        yield Chunk(b"", start, self.line, too_long=True, length=skipped)
        self.offset = start + skipped
        self.line += 1
        self._pending = tail

    def close(self) -> None:
        if self.stream is not self._raw:
            self.stream.close()
        if self._raw is not sys.stdin.buffer:
            self._raw.close()


#: Bytes read at a time while looking for a line end (a log line is rarely longer than 1 KiB).
_PROBE: Final = 64 * 1024


def _line_end_before(fd: int, start: int, end: int) -> int | None:
    """Where the last line that ends in [start, end) of `fd` ends (after its line feed); None if
    no line ends there."""
    hi = end
    while hi > start:
        lo = max(start, hi - _PROBE)
        at = os.pread(fd, hi - lo, lo).rfind(b"\n")
        if at >= 0:
            return lo + at + 1
        hi = lo
    return None


def _line_end_after(fd: int, at: int, size: int) -> int:
    """Where the line that goes on at byte `at` of `fd` ends (after its line feed, or at `size`)."""
    while at < size:
        piece = os.pread(fd, min(_PROBE, size - at), at)
        nl = piece.find(b"\n")
        if nl >= 0:
            return at + nl + 1
        if not piece:
            break
        at += len(piece)
    return size


def open_log(path: str) -> LogInput:
    """Open `path` (`-`: standard input); IngestError naming the file when it cannot be read."""
    if path == "-":
        raw = sys.stdin.buffer
        if not isinstance(raw, io.BufferedReader):
            raw = io.BufferedReader(raw)
        return LogInput("<stdin>", raw, None)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - owned by the LogInput, closed by it
        info = os.fstat(fh.fileno())
    except OSError as exc:
        raise IngestError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        return LogInput(path, fh, info.st_size, path if stat.S_ISREG(info.st_mode) else None)
    except BaseException:
        fh.close()
        raise
