"""Consuming the spool: one loop shared by the local loader (-> DuckDB) and the fleet forwarder (-> NATS).

The sink makes each batch durable *together with* its new offset (a DuckDB transaction, or a JetStream
ack followed by a progress write); `drain` then moves on, deletes sealed segments once consumed, and
publishes progress for lag reporting. A bad tail in a sealed segment goes to the sink's `corrupt`
(kept, never silently dropped) and the rest of that segment is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from pkgate.events.spool import Segment, list_segments, read_frames, write_progress

log = logging.getLogger("pkgate.spool")


class Sink(Protocol):
    def commit(self, segment: str, start: int, payloads: list[bytes], offsets: list[int]) -> None:
        """Make the payloads durable and record `offsets[-1]` as the segment's progress, atomically."""

    def corrupt(self, segment: str, offset: int, data: bytes, why: str) -> None:
        """Keep undecodable bytes somewhere a person can look at them."""

    def forget(self, segment: str) -> None:
        """The segment was consumed and deleted: drop its progress record."""


def drain(
    spool_dir: Path,
    progress: dict[str, int],
    sink: Sink,
    batch: int,
    keep: Callable[[Segment], None] | None = None,
) -> int:
    """Consume everything currently in the spool; return the number of frames handed to the sink.

    A consumed sealed segment is handed to `keep` (retention, events.retained), else deleted."""
    total = 0
    for seg in list_segments(spool_dir):
        offset = progress.get(seg.name, 0)
        while True:
            res = read_frames(seg, offset, batch)
            if res.payloads:
                sink.commit(seg.name, offset, res.payloads, res.offsets)
                total += len(res.payloads)
                offset = res.end
                progress[seg.name] = offset
            if res.corrupt:
                log.warning("spool segment %s: %s; rest of segment skipped", seg.path, res.corrupt)
                sink.corrupt(seg.name, offset, seg.path.read_bytes()[offset:], res.corrupt)
            if res.corrupt or len(res.payloads) < batch:
                break
        if seg.sealed and (res.corrupt or offset >= seg.path.stat().st_size):
            # Move the file away first: if we crash before forgetting the offset, the stale record is
            # harmless; the other order could consume the segment again from zero.
            if keep is None:
                seg.path.unlink()
            else:
                keep(seg)
            sink.forget(seg.name)
            progress.pop(seg.name, None)
    write_progress(spool_dir, progress)
    return total
