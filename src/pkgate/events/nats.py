"""Fleet mode, gateway side: forward the local spool to NATS JetStream, at least once.

Each gateway keeps its own durable spool (answers never wait for the network); the forwarder drains it
to a JetStream stream and records progress only after JetStream acknowledged the batch. A crash
re-sends from the last recorded offset: the message id `<segment>:<offset>` is stable, so JetStream's
duplicate window drops re-sends, and collectors insert by event id, which drops the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import StreamConfig
from nats.js.errors import Error as JetStreamError

from pkgate.errors import FleetError
from pkgate.events.drain import drain
from pkgate.events.keysync import sync_day_keys, sync_period_keys
from pkgate.events.model import now_us
from pkgate.events.spool import read_progress, write_progress

log = logging.getLogger("pkgate.nats")

DEFAULT_STREAM = "PKGATE_EVENTS"
DEFAULT_SUBJECT = "pkgate.events"
#: Seconds between key syncs; tomorrow's key is installed a day ahead, so this only has to be < 1 day.
KEY_SYNC_INTERVAL = 300.0


async def ensure_stream(js: nats.js.JetStreamContext, stream: str, subject: str) -> None:
    """Create the stream if missing (file storage, 2-minute duplicate window)."""
    try:
        await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        await js.add_stream(StreamConfig(name=stream, subjects=[subject], duplicate_window=120.0))


class Forwarder:
    """Drains one spool directory into JetStream; `run_once` is one cycle (sync, own event loop)."""

    def __init__(
        self,
        spool_dir: Path,
        url: str,
        *,
        subject: str = DEFAULT_SUBJECT,
        stream: str = DEFAULT_STREAM,
        batch: int = 2000,
        timeout: float = 10.0,
        keys_dir: Path | None = None,
    ) -> None:
        self.spool_dir = spool_dir
        self.url = url
        self.subject = subject
        self.stream = stream
        self.batch = batch
        self.timeout = timeout
        self.loop = asyncio.new_event_loop()
        self._nc: Client | None = None
        self._js: nats.js.JetStreamContext | None = None
        self.forwarded_total = 0
        self.keys_dir = keys_dir  # set: share daily source-id keys with the fleet (events.keysync)
        self._next_key_sync = 0.0

    async def _connect(self) -> nats.js.JetStreamContext:
        if self._js is None or self._nc is None or self._nc.is_closed:
            self._nc = await nats.connect(self.url, connect_timeout=self.timeout, max_reconnect_attempts=1)
            self._js = self._nc.jetstream(timeout=self.timeout)
            await ensure_stream(self._js, self.stream, self.subject)
        return self._js

    def run_once(self) -> int:
        try:
            if self.keys_dir is not None and time.monotonic() >= self._next_key_sync:
                self.loop.run_until_complete(self._sync_keys(self.keys_dir))
            progress = read_progress(self.spool_dir)
            n = drain(self.spool_dir, progress, _NatsSink(self), self.batch)
        except (NatsError, JetStreamError, OSError, TimeoutError) as exc:
            self.loop.run_until_complete(self._drop())
            raise FleetError(f"forwarding to {self.url} failed: {exc!r}; events stay in the spool") from None
        self.forwarded_total += n
        return n

    async def _sync_keys(self, keys_dir: Path) -> None:
        js = await self._connect()
        await sync_day_keys(js, keys_dir, now_us())
        await sync_period_keys(js, keys_dir, now_us())
        self._next_key_sync = time.monotonic() + KEY_SYNC_INTERVAL

    async def _publish(self, segment: str, start: int, payloads: list[bytes], offsets: list[int]) -> None:
        js = await self._connect()
        ids = [f"{segment}:{start}", *(f"{segment}:{o}" for o in offsets[:-1])]
        # Concurrent publishes, each awaiting its ack: one round trip per batch, not per event.
        await asyncio.gather(
            *(
                js.publish(self.subject, p, headers={"Nats-Msg-Id": i})
                for p, i in zip(payloads, ids, strict=True)
            )
        )

    async def _drop(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()
        self._nc = self._js = None

    def close(self) -> None:
        self.loop.run_until_complete(self._drop())
        self.loop.run_until_complete(_cancel_others())  # the client's reader/flusher tasks
        self.loop.close()


async def _cancel_others() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class _NatsSink:
    def __init__(self, fwd: Forwarder) -> None:
        self.fwd = fwd
        self.progress = read_progress(fwd.spool_dir)

    def commit(self, segment: str, start: int, payloads: list[bytes], offsets: list[int]) -> None:
        self.fwd.loop.run_until_complete(self.fwd._publish(segment, start, payloads, offsets))
        self.progress[segment] = offsets[-1]
        write_progress(self.fwd.spool_dir, self.progress)  # only after the acks

    def corrupt(self, segment: str, offset: int, data: bytes, why: str) -> None:
        rejects = self.fwd.spool_dir / "rejects"
        rejects.mkdir(exist_ok=True)
        (rejects / f"{segment}-{offset}.bin").write_bytes(data)
        log.error("spool segment %s offset %d: %s; bytes kept in %s", segment, offset, why, rejects)

    def forget(self, segment: str) -> None:
        self.progress.pop(segment, None)
