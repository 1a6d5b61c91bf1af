"""Group commit error paths: every failure ends in an answer (SpoolError -> 503), a log line, a
counter, and recovery once the cause is gone. Kernel failures are real where the kernel can be made
to fail here (EFBIG from RLIMIT_FSIZE, EEXIST/EISDIR from names in the way); fsync cannot be made
to fail without a broken device, so that one uses a writer whose `sync` raises."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from pkgate.errors import SpoolError
from pkgate.events import encode
from pkgate.events.commit import GroupCommitter
from pkgate.events.spool import SegmentWriter, frame, iter_all, list_segments, read_frames
from tests.events.test_spool import make_event


def frames(n: int, start: int = 0) -> list[bytes]:
    return [frame(encode(make_event(i))) for i in range(start, start + n)]


def stored(directory: Path) -> list[str]:
    return [p.hex() for _, p in iter_all(directory)]


async def test_a_cancelled_request_does_not_cancel_its_batch(tmp_path: Path) -> None:
    gc = GroupCommitter(SegmentWriter(tmp_path, "w"), "off")
    a, b = frames(2)

    async def request(data: bytes) -> str:
        await gc.append(data)
        return "answered"

    first = asyncio.create_task(request(a))
    second = asyncio.create_task(request(b))
    await asyncio.sleep(0)  # both appended: one shared batch
    first.cancel()
    assert await second == "answered"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(stored(tmp_path)) == 2
    # the committer is still usable afterwards
    await gc.append(frames(1, 5)[0])
    assert len(stored(tmp_path)) == 3
    await gc.aclose()


async def test_a_timed_out_wait_neither_cancels_the_batch_nor_loses_the_frame(tmp_path: Path) -> None:
    gc = GroupCommitter(SegmentWriter(tmp_path, "w"), "off")
    a, b = frames(2)
    shared = gc.append(a)
    assert gc.append(b) is shared  # one future per batch
    assert shared.cancel() is False  # nobody can cancel what other requests wait for
    # wait_for cancels what it waits for on timeout: the batch is written regardless
    await asyncio.wait_for(shared, timeout=0)
    assert not shared.cancelled()
    assert len(stored(tmp_path)) == 2
    await gc.aclose()


@pytest.fixture
def file_size_limit() -> Iterator[object]:
    """Set RLIMIT_FSIZE for this process (writes past it fail with EFBIG), restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    def limit(n: int) -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (n, hard))

    yield limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, old)


async def test_write_failure_is_503_logged_counted_and_recovers(
    tmp_path: Path, file_size_limit: object, caplog: pytest.LogCaptureFixture
) -> None:
    limit = file_size_limit
    assert callable(limit)
    gc = GroupCommitter(SegmentWriter(tmp_path, "w"), "off")
    first = frames(3)
    await asyncio.gather(*(gc.append(f) for f in first))
    size = sum(map(len, first))
    batch = frames(5, 10)
    caplog.set_level(logging.WARNING, "pkgate.spool")
    limit(size + len(batch[0]) + 7)  # the kernel takes part of the batch, then refuses
    results = await asyncio.gather(*(gc.append(f) for f in batch), return_exceptions=True)
    limit(resource.RLIM_INFINITY)
    assert all(isinstance(r, SpoolError) for r in results)
    assert gc.failures["write"] == 1
    assert "spool write failed" in caplog.text
    seg = list_segments(tmp_path)[0]
    assert seg.path.stat().st_size == size  # the partial batch was cut back
    await asyncio.gather(*(gc.append(f) for f in batch))  # cause gone: accepted again
    assert "writable again after 1 failed write" in caplog.text
    await gc.aclose()
    res = read_frames(list_segments(tmp_path)[0], 0, 100)
    assert res.corrupt is None  # no torn frame between whole ones
    assert len(res.payloads) == 8


async def test_rollover_rename_failure_keeps_the_batch_and_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "w-00000001.sealed"  # a non-empty directory where the sealed name goes
    blocker.mkdir()
    (blocker / "x").write_text("x")
    writer = SegmentWriter(tmp_path, "w", segment_bytes=200)
    gc = GroupCommitter(writer, "off")
    caplog.set_level(logging.ERROR, "pkgate.spool")
    await asyncio.gather(*(gc.append(f) for f in frames(3)))  # answered: the data is written
    assert gc.failures["rollover"] == 1
    assert "rollover failed" in caplog.text
    (blocker / "x").unlink()
    blocker.rmdir()
    await gc.append(frames(1, 3)[0])  # retries the seal, opens the next segment
    await gc.aclose()
    assert all(s.sealed for s in list_segments(tmp_path))
    assert len(stored(tmp_path)) == 4


async def test_next_segment_not_creatable_then_recovers(tmp_path: Path) -> None:
    (tmp_path / "w-00000002.seg").write_bytes(b"")  # the next name is taken (EEXIST)
    writer = SegmentWriter(tmp_path, "w", segment_bytes=200)
    gc = GroupCommitter(writer, "off")
    await asyncio.gather(*(gc.append(f) for f in frames(3)))
    assert gc.failures["rollover"] == 1
    await gc.append(frames(1, 3)[0])  # a fresh name next time
    await gc.aclose()
    assert len([p for _, p in iter_all(tmp_path)]) == 4


class FlakySync(SegmentWriter):
    """fsync fails (EIO) while `broken` is set."""

    broken = False

    def sync(self) -> None:
        if self.broken:
            raise OSError(5, "Input/output error")
        super().sync()


async def test_fsync_failure_logs_counts_and_holds_answers_until_it_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = FlakySync(tmp_path, "w")
    gc = GroupCommitter(writer, "batched", fsync_interval=0.01)
    gc.start()
    caplog.set_level(logging.WARNING, "pkgate.spool")
    writer.broken = True
    await gc.append(frames(1)[0])  # written; the background fsync then fails
    for _ in range(500):
        if gc.failures["fsync"]:
            break
        await asyncio.sleep(0.01)
    assert gc.failures["fsync"] == 1
    assert "spool fsync failed" in caplog.text
    with pytest.raises(SpoolError, match="fsync"):  # not durable -> not answered
        await gc.append(frames(1, 1)[0])
    assert gc.failures["fsync"] == 2
    writer.broken = False
    await gc.append(frames(1, 2)[0])
    assert "writable again" in caplog.text
    await gc.append(frames(1, 3)[0])  # back to batched (no fsync before the answer)
    await gc.aclose()


class BrokenWrite(SegmentWriter):
    def write(self, data: bytes) -> None:
        raise OSError(28, "No space left on device")  # a bare OSError, not a SpoolError


@pytest.mark.parametrize("mode", ["always", "batched", "off"])
async def test_any_writer_error_becomes_spool_error(tmp_path: Path, mode: str) -> None:
    gc = GroupCommitter(BrokenWrite(tmp_path, "w"), mode)  # type: ignore[arg-type]
    with pytest.raises(SpoolError, match="No space left"):
        await asyncio.wait_for(gc.append(frames(1)[0]), 10)  # an answer, never a hang
    assert gc.failures["write"] == 1
    await gc.aclose()
