"""Group commit: the frames appended during one event-loop turn go to the spool in one write.

Each request awaits the durability of its own frame before it is answered. Every way this can
fail ends the same way for the waiting requests — a `SpoolError` (the edge answers 503) — plus one
log line when a failure streak starts, one when it ends, and a counter per operation (`failures`).
A request that is cancelled (client gone) never cancels the batch it shares with others.

A failed background fsync in "batched" mode means frames already answered may not survive a
machine crash; from then on every batch is fsynced before its requests are answered (as in
"always") until an fsync succeeds again, so nothing more is answered that is not durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pkgate.errors import SpoolError
from pkgate.events.spool import FsyncMode, SegmentWriter

log = logging.getLogger("pkgate.spool")

#: The operations counted in `GroupCommitter.failures` (the `op` label of the metric).
OPERATIONS = ("write", "fsync", "rollover")


class GroupCommitter:
    """Batches frames into one write; `append` returns an awaitable resolved once the frame is
    durable per the fsync mode. Only one write is in flight at a time."""

    def __init__(
        self, writer: SegmentWriter, fsync: FsyncMode = "batched", fsync_interval: float = 0.2
    ) -> None:
        self.writer = writer
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self._buf: list[bytes | bytearray] = []
        self._waiter: asyncio.Future[None] | None = None
        self._busy = False
        self._dirty = False
        self._sync_failed = False  # a background fsync failed: fsync before answering until one works
        self._failing: str | None = None  # the operation of the current failure streak
        self._streak = 0
        self._ticker: asyncio.Task[None] | None = None
        self.batches = 0  # group commits done, for metrics
        self._failures = dict.fromkeys(OPERATIONS, 0)

    @property
    def failures(self) -> dict[str, int]:
        """Failed operations so far, by operation (for the metrics)."""
        return {**self._failures, "rollover": self.writer.rollover_errors}

    def start(self) -> None:
        if self.fsync == "batched" and self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    def append(self, data: bytes | bytearray) -> asyncio.Future[None]:
        """Queue one frame; every request of a batch awaits the same future, which cannot be
        cancelled: a cancelled request (client gone) is cancelled once its batch is written,
        never the batch (one future per batch, not a shield per request: ~2 µs each)."""
        self._buf.append(data)
        waiter = self._waiter
        if waiter is None:
            loop = asyncio.get_running_loop()
            waiter = self._waiter = _Batch(loop=loop)
            if not self._busy:
                loop.call_soon(self._flush)
        return waiter

    def _flush(self) -> None:
        waiter, self._waiter = self._waiter, None
        data, self._buf = b"".join(self._buf), []
        if waiter is None:
            return
        if self.fsync == "always" or self._sync_failed:
            self._busy = True
            task = asyncio.get_running_loop().run_in_executor(None, self._write_sync, data)
            task.add_done_callback(lambda t: self._done(waiter, t.exception()))
            return
        try:
            self.writer.write(data)
        except Exception as exc:
            _resolve(waiter, self._failed("write", exc))
            return
        self._ok()
        self._dirty = True
        self.batches += 1
        _resolve(waiter, None)

    def _write_sync(self, data: bytes) -> None:
        try:
            self.writer.write(data)
        except Exception as exc:
            raise _Failed("write", exc) from None
        try:
            self.writer.sync()
        except Exception as exc:
            raise _Failed("fsync", exc) from None

    def _done(self, waiter: asyncio.Future[None], exc: BaseException | None) -> None:
        self._busy = False
        if exc is None:
            self._ok()
            self._sync_failed = False
            self.batches += 1
            _resolve(waiter, None)
        elif isinstance(exc, _Failed):
            _resolve(waiter, self._failed(exc.op, exc.cause))
        else:
            _resolve(waiter, self._failed("write", exc))
        if self._waiter is not None:
            asyncio.get_running_loop().call_soon(self._flush)

    def _failed(self, op: str, exc: BaseException) -> SpoolError:
        """Count, log the start of a failure streak, and make the error the requests will see."""
        self._failures[op] += 1
        self._streak += 1
        if self._failing is None:
            self._failing = op
            log.error("spool %s failed, requests get 503 until it works again: %s", op, exc)
        return exc if isinstance(exc, SpoolError) else SpoolError(f"spool {op} failed: {exc!r}")

    def _ok(self) -> None:
        if self._failing is not None:
            log.warning("spool writable again after %d failed %s(s)", self._streak, self._failing)
            self._failing, self._streak = None, 0

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.fsync_interval)
            if not self._dirty:
                continue
            self._dirty = False
            try:
                await loop.run_in_executor(None, self.writer.sync)
            except Exception as exc:
                self._sync_failed = True
                self._failed("fsync", exc)
                log.error(
                    "events answered in the last %.1f s may not survive a machine crash; "
                    "fsyncing before every answer until fsync works again",
                    self.fsync_interval,
                )

    async def aclose(self) -> None:
        """Flush what is pending, stop the ticker and seal the segment."""
        while self._waiter is not None or self._busy:
            await asyncio.sleep(0.001)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.writer.close()


class _Batch(asyncio.Future[None]):
    """The future a batch's requests share. `cancel` refuses: a task awaiting it that is cancelled
    then gets its CancelledError when the batch is done, and the other requests are unaffected."""

    def cancel(self, msg: object = None) -> bool:
        return False


class _Failed(Exception):
    """An executor-side failure, tagged with the operation that failed."""

    def __init__(self, op: str, cause: BaseException) -> None:
        super().__init__(op)
        self.op = op
        self.cause = cause


def _resolve(waiter: asyncio.Future[None], exc: BaseException | None) -> None:
    if waiter.done():  # cannot happen (it refuses cancel); never let it break the next batch
        return
    if exc is None:
        waiter.set_result(None)
    else:
        waiter.set_exception(exc)
