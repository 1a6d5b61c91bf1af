"""Fleet mode with a real nats-server: two gateways' spools -> JetStream -> one store, exactly once,
through forwarder re-sends and collector redeliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import duckdb
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from pkgate.errors import FleetError
from pkgate.events import encode
from pkgate.events.nats import Forwarder
from pkgate.events.spool import SegmentWriter, frame, list_segments, write_progress
from pkgate.store.collector import Collector
from tests.events.test_spool import make_event
from tests.support.nats_server import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "js")
    yield server
    server.stop()


def spool_with(directory: Path, writer: str, n: int, segment_bytes: int = 4096) -> list[str]:
    w = SegmentWriter(directory, writer, segment_bytes=segment_bytes)
    events = [make_event(i, gateway=writer) for i in range(n)]
    for e in events:
        w.write(frame(encode(e)))
    w.close()
    return [e.id for e in events]


def stored_ids(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [str(r[0]).replace("-", "") for r in con.execute("SELECT id FROM events").fetchall()]
    finally:
        con.close()


async def collect_until(collector: Collector, expected: int, timeout: float = 20) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop, idle_wait=0.2))
    deadline = asyncio.get_running_loop().time() + timeout
    while collector.collected_total < expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await task


def test_two_gateways_one_store_exactly_once(tmp_path: Path, nats_server: NatsServer) -> None:
    a = spool_with(tmp_path / "gw-a", "a", 300)
    b = spool_with(tmp_path / "gw-b", "b", 200)
    fa = Forwarder(tmp_path / "gw-a", nats_server.url, batch=64)
    fb = Forwarder(tmp_path / "gw-b", nats_server.url, batch=64)
    assert fa.run_once() == 300
    assert fb.run_once() == 200
    assert list_segments(tmp_path / "gw-a") == []  # sealed and forwarded: deleted
    fa.close()
    fb.close()
    db = tmp_path / "store" / "pkgate.duckdb"
    collector = Collector(db, nats_server.url, batch=100)
    asyncio.run(collect_until(collector, 500))
    ids = stored_ids(db)
    assert sorted(ids) == sorted(a + b)


def test_resend_after_forwarder_crash_is_deduplicated(tmp_path: Path, nats_server: NatsServer) -> None:
    spool = tmp_path / "gw"
    ids = spool_with(spool, "g", 50, segment_bytes=1 << 20)  # one sealed segment
    # keep the segment: write an open one too, then forward, then "lose" the progress file
    w = SegmentWriter(spool, "g2")
    extra = [make_event(1000 + i) for i in range(10)]
    w.write(b"".join(frame(encode(e)) for e in extra))
    fwd = Forwarder(spool, nats_server.url)
    assert fwd.run_once() == 60
    write_progress(spool, {})  # crash before progress was durable: everything open is re-sent
    assert fwd.run_once() == 10
    fwd.close()
    db = tmp_path / "pkgate.duckdb"
    collector = Collector(db, nats_server.url)
    asyncio.run(collect_until(collector, 60, timeout=5))
    assert sorted(stored_ids(db)) == sorted(ids + [e.id for e in extra])
    assert collector.collected_total == 60  # JetStream dropped the 10 re-sends (same message ids)
    w.close()


def test_collector_restart_redelivery_is_idempotent(tmp_path: Path, nats_server: NatsServer) -> None:
    spool = tmp_path / "gw"
    ids = spool_with(spool, "g", 120)
    fwd = Forwarder(spool, nats_server.url)
    fwd.run_once()
    fwd.close()
    db = tmp_path / "pkgate.duckdb"
    # A collector that stores but dies before acking: simulate by storing via _store only.
    first = Collector(db, nats_server.url, durable="c1")

    async def store_without_ack() -> None:
        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=1.0)
        sub = await js.pull_subscribe("pkgate.events", durable="c1", stream="PKGATE_EVENTS", config=config)
        msgs = await sub.fetch(50, timeout=5)
        first._store(msgs)  # committed, never acked
        await nc.close()

    asyncio.run(store_without_ack())
    assert len(stored_ids(db)) == 50
    second = Collector(db, nats_server.url, durable="c1")
    asyncio.run(collect_until(second, 120, timeout=40))
    assert sorted(stored_ids(db)) == sorted(ids)


def test_unreachable_nats_keeps_the_spool(tmp_path: Path) -> None:
    spool = tmp_path / "gw"
    spool_with(spool, "g", 5)
    fwd = Forwarder(spool, "nats://127.0.0.1:9", timeout=0.5)
    with pytest.raises(FleetError, match="stay in the spool"):
        fwd.run_once()
    fwd.close()
    assert len(list_segments(spool)) == 1


def test_gateways_agree_on_the_days_key(tmp_path: Path, nats_server: NatsServer) -> None:
    from pkgate.enrich.sources import SourceHasher, day_name
    from pkgate.events import now_us
    from pkgate.events.keysync import sync_day_keys

    now = now_us()
    stale = tmp_path / "b" / f"{day_name(now // 86_400_000_000)}.key"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * 32)  # made while NATS was down: the fleet's key must win

    async def sync(keys: Path) -> list[str]:
        nc = await nats.connect(nats_server.url)
        try:
            return await sync_day_keys(nc.jetstream(), keys, now)
        finally:
            await nc.close()

    days_a = asyncio.run(sync(tmp_path / "a"))
    days_b = asyncio.run(sync(tmp_path / "b"))
    assert days_a == days_b
    assert len(days_a) == 2  # today and tomorrow
    for name in days_a:
        assert (tmp_path / "a" / f"{name}.key").read_bytes() == (tmp_path / "b" / f"{name}.key").read_bytes()
    assert stale.read_bytes() != b"x" * 32
    assert oct(stale.stat().st_mode & 0o777) == "0o600"
    ids_a = SourceHasher(tmp_path / "a").ids("198.51.100.7", now)
    ids_b = SourceHasher(tmp_path / "b").ids("198.51.100.7", now)
    assert ids_a == ids_b


def test_collector_rejects_a_poison_message_instead_of_redelivering_it(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    spool = tmp_path / "gw"
    w = SegmentWriter(spool, "g")
    events = [make_event(i, asn=2**63 if i == 7 else None) for i in range(20)]
    w.write(b"".join(frame(encode(e)) for e in events))
    w.close()
    fwd = Forwarder(spool, nats_server.url)
    fwd.run_once()
    fwd.close()
    db = tmp_path / "pkgate.duckdb"
    collector = Collector(db, nats_server.url)
    asyncio.run(collect_until(collector, 20))
    assert collector.collected_total == 20  # all acked: nothing is redelivered forever
    assert sorted(stored_ids(db)) == sorted(e.id for i, e in enumerate(events) if i != 7)
    con = duckdb.connect(str(db), read_only=True)
    rejects = con.execute("SELECT segment, payload, error FROM rejects").fetchall()
    con.close()
    assert [(r[0], r[1]) for r in rejects] == [("nats:PKGATE_EVENTS", encode(events[7]))]
    assert "too large" in rejects[0][2]
