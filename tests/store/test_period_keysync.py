"""Fleet mode: gateways agree on the week and month keys through a real nats-server, and the
keys of ended periods are purged from the bucket."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.js.errors import KeyNotFoundError

from pkgate.enrich.sources import DAY_US, SourceHasher
from pkgate.events.keysync import PERIOD_BUCKET, sync_period_keys
from tests.support.nats_server import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "js")
    yield server
    server.stop()


def at(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * DAY_US + 12 * 3_600_000_000


def test_gateways_agree_on_period_keys_and_forget_ended_ones(tmp_path: Path, nats_server: NatsServer) -> None:
    async def sync(keys: Path, now: int) -> list[str]:
        nc = await nats.connect(nats_server.url)
        try:
            return await sync_period_keys(nc.jetstream(), keys, now)
        finally:
            await nc.close()

    async def in_bucket(name: str) -> bool:
        nc = await nats.connect(nats_server.url)
        try:
            kv = await nc.jetstream().key_value(PERIOD_BUCKET)
            try:
                entry = await kv.get(name)
            except KeyNotFoundError:
                return False
            return entry.value is not None
        finally:
            await nc.close()

    sunday = at(dt.date(2026, 2, 28))  # Saturday 02-28: tomorrow is still this week, next month is March
    names = asyncio.run(sync(tmp_path / "a", sunday))
    assert names == ["week-2026-02-23", "month-2026-02-01", "month-2026-03-01"]
    assert asyncio.run(sync(tmp_path / "b", sunday)) == names
    ip = "198.51.100.7"
    assert SourceHasher(tmp_path / "a").marks(ip, sunday) == SourceHasher(tmp_path / "b").marks(ip, sunday)
    asyncio.run(sync(tmp_path / "a", at(dt.date(2026, 3, 3))))  # Tuesday: last week and February ended
    assert not asyncio.run(in_bucket("week-2026-02-23"))
    assert not asyncio.run(in_bucket("month-2026-02-01"))
    assert asyncio.run(in_bucket("month-2026-03-01"))
