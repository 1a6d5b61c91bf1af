"""Spool: framing, group commit, rollover, torn writes, sealing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.errors import SpoolError
from pkgate.events import Event, decode, encode, new_id, now_us
from pkgate.events.commit import GroupCommitter
from pkgate.events.spool import (
    SegmentWriter,
    frame,
    iter_all,
    list_segments,
    pending_frames,
    read_frames,
    seal_all,
    write_progress,
)


def make_event(i: int = 0, **kw: object) -> Event:
    base: dict[str, object] = dict(
        id=new_id(),
        ts_us=now_us(),
        gateway="gw",
        method="GET",
        path=f"/simple/p{i}/",
        kind="index-project",
        status=200,
        duration_us=10,
        project=f"p{i}",
        user_agent="pip/24.0",
    )
    base.update(kw)
    return Event(**base)  # type: ignore[arg-type]


def test_event_roundtrip() -> None:
    ev = make_event(1, version="1.0", filename="p1-1.0.tar.gz", conditional=True, asn=64500)
    assert decode(encode(ev)) == ev


def test_ids_unique_and_sortable() -> None:
    ids = [new_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 for i in ids)


async def test_group_commit_batches_and_persists(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, "w1")
    gc = GroupCommitter(writer, "batched", 0.01)
    gc.start()
    events = [make_event(i) for i in range(100)]
    await asyncio.gather(*(gc.append(frame(encode(e))) for e in events))
    # 100 appends in one loop turn -> one write
    assert gc.batches == 1
    got = [decode(p) for _, p in iter_all(tmp_path)]
    assert got == events
    await gc.aclose()
    segs = list_segments(tmp_path)
    assert len(segs) == 1
    assert segs[0].sealed


@pytest.mark.parametrize("mode", ["always", "batched", "off"])
async def test_fsync_modes_all_durable_to_reader(tmp_path: Path, mode: str) -> None:
    gc = GroupCommitter(SegmentWriter(tmp_path, "w"), mode, 0.01)  # type: ignore[arg-type]
    gc.start()
    for i in range(5):
        await gc.append(frame(encode(make_event(i))))
    assert len(list(iter_all(tmp_path))) == 5
    await gc.aclose()


def test_rollover(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, "w", segment_bytes=4096)
    for i in range(200):
        w.write(frame(encode(make_event(i))))
    w.close()
    segs = list_segments(tmp_path)
    assert len(segs) > 2
    assert all(s.sealed for s in segs)
    assert [decode(p).project for _, p in iter_all(tmp_path)] == [f"p{i}" for i in range(200)]


def test_torn_tail_open_segment_waits_sealed_reports(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, "w")
    good = frame(encode(make_event(1)))
    w.write(good + frame(encode(make_event(2)))[:7])  # second frame torn
    seg = list_segments(tmp_path)[0]
    res = read_frames(seg, 0, 100)
    assert len(res.payloads) == 1
    assert res.corrupt is None
    assert res.end == len(good)
    os.close(w._fd)  # simulate a crash: no clean seal
    assert seal_all(tmp_path) == 1
    res = read_frames(list_segments(tmp_path)[0], 0, 100)
    assert len(res.payloads) == 1
    assert res.corrupt is not None
    assert "torn" in res.corrupt


def test_checksum_mismatch_in_sealed_segment(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, "w")
    a, b = frame(encode(make_event(1))), bytearray(frame(encode(make_event(2))))
    b[-1] ^= 0xFF
    w.write(a + bytes(b) + frame(encode(make_event(3))))
    w.close()
    res = read_frames(list_segments(tmp_path)[0], 0, 100)
    assert len(res.payloads) == 1
    assert res.corrupt is not None
    assert "checksum" in res.corrupt


def test_pending_frames_follows_progress(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, "w")
    frames = [frame(encode(make_event(i))) for i in range(10)]
    w.write(b"".join(frames))
    assert pending_frames(tmp_path) == 10
    seg = list_segments(tmp_path)[0]
    write_progress(tmp_path, {seg.name: sum(len(f) for f in frames[:4])})
    assert pending_frames(tmp_path) == 6


def test_bad_writer_id(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="writer id"):
        SegmentWriter(tmp_path, "../evil")


def test_unwritable_directory_is_spool_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SpoolError, match="cannot create"):
        SegmentWriter(blocker / "spool", "w")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=50))
def test_reader_never_crashes_on_garbage(
    tmp_path_factory: pytest.TempPathFactory, junk: bytes, n: int
) -> None:
    d = tmp_path_factory.mktemp("g")
    (d / "w-00000001.sealed").write_bytes(junk)
    seg = list_segments(d)[0]
    res = read_frames(seg, 0, n + 1)
    assert res.end <= len(junk)


def test_pending_frames_is_exact_when_small_and_estimated_cheaply_when_large(tmp_path: Path) -> None:
    w = SegmentWriter(tmp_path, "w", segment_bytes=50_000)
    frames = [frame(encode(make_event(i))) for i in range(5000)]
    for f in frames:
        w.write(f)
    assert len(list_segments(tmp_path)) > 5
    assert pending_frames(tmp_path, sample=10_000) == 5000  # walks every header
    estimate = pending_frames(tmp_path, sample=64)  # walks 64 headers, stats the rest
    assert abs(estimate - 5000) <= 250  # within 5 %: events of one shape have similar sizes
    w.write(frame(encode(make_event(1)))[:5])  # half a header: not a frame yet (as before)
    assert pending_frames(tmp_path, sample=10_000) == 5000
