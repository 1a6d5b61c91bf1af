"""Fleet mode, store side: consume events from NATS JetStream into DuckDB, exactly once.

A durable pull consumer hands out batches; each batch is inserted in one transaction (by event id,
`ON CONFLICT DO NOTHING`) and acknowledged only after the commit. A crash before the ack makes
JetStream redeliver the batch, and the primary key drops what was already stored: at-least-once
delivery + idempotent insert = every event once. One collector per store (DuckDB has one writer).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import duckdb
import nats
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import Error as JetStreamError

from pkgate.errors import FleetError
from pkgate.events.nats import DEFAULT_STREAM, DEFAULT_SUBJECT, ensure_stream
from pkgate.store.layout import ensure_schema
from pkgate.store.loader import Frame, Loader, commit_frames

log = logging.getLogger("pkgate.collector")


class Collector:
    def __init__(
        self,
        db_path: Path,
        url: str,
        *,
        subject: str = DEFAULT_SUBJECT,
        stream: str = DEFAULT_STREAM,
        durable: str = "pkgate-collector",
        batch: int = 5000,
        ack_wait: float = 30.0,
    ) -> None:
        self.db_path = db_path
        self.url = url
        self.subject = subject
        self.stream = stream
        self.durable = durable
        self.batch = batch
        self.ack_wait = ack_wait  # a batch not acked within this is redelivered
        self.collected_total = 0
        self._loader = Loader(db_path, db_path.parent / "spool")  # for connect + rejects
        #: Upkeep between batches (the alert rules), run in a worker thread; set by `pkgate collect`.
        self.maintain: Callable[[], None] | None = None

    def connect(self) -> duckdb.DuckDBPyConnection:
        return self._loader.connect()

    async def run(self, stop: asyncio.Event, idle_wait: float = 1.0) -> None:
        """Consume until `stop` is set. A NATS outage is waited out (the client reconnects); raises
        FleetError when NATS cannot be reached at start or the connection is closed for good."""
        try:
            nc = await nats.connect(self.url, max_reconnect_attempts=-1)
        except (NatsError, OSError) as exc:
            raise FleetError(f"cannot connect to NATS at {self.url}: {exc!r}") from None
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.stream, self.subject)
            sub = await js.pull_subscribe(
                self.subject,
                durable=self.durable,
                stream=self.stream,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait, max_ack_pending=self.batch * 4
                ),
            )
            while not stop.is_set():
                if self.maintain is not None:
                    await asyncio.to_thread(self.maintain)
                try:
                    msgs = await sub.fetch(self.batch, timeout=idle_wait)
                except (NatsTimeout, TimeoutError):  # nats-py raises either when nothing is pending
                    continue
                except (NatsError, JetStreamError) as exc:
                    if nc.is_closed:
                        raise
                    await self._outage(exc, idle_wait)
                    continue
                self._store(msgs)
                try:
                    await asyncio.gather(*(m.ack_sync() for m in msgs))
                except (NatsError, JetStreamError, TimeoutError) as exc:
                    # NATS went away after the commit: the batch comes again (redelivery after
                    # ack_wait) and the primary key drops it. The client reconnects by itself.
                    if nc.is_closed:
                        raise
                    await self._outage(exc, idle_wait)
                    continue
                self.collected_total += len(msgs)
        except (NatsError, JetStreamError) as exc:
            raise FleetError(f"collecting from {self.url} failed: {exc!r}") from None
        finally:
            await nc.close()

    async def _outage(self, exc: Exception, wait: float) -> None:
        """NATS is unreachable for now: keep running (the gateways keep spooling) and retry."""
        log.warning("NATS at %s unavailable (%r); retrying", self.url, exc)
        await asyncio.sleep(wait)

    def _store(self, msgs: list[Msg]) -> None:
        """One transaction per batch; a batch the store refuses is narrowed down to the refused
        messages (to `rejects`), so a poison message is not redelivered forever."""
        frames = [Frame(m.metadata.sequence.stream, m.metadata.sequence.stream, m.data) for m in msgs]
        con = self._loader.connect()
        try:
            ensure_schema(con)
            commit_frames(con, f"nats:{self.stream}", frames, progress=False)
            con.execute("CHECKPOINT")  # in this context, not at close (docs/reliability.md)
        finally:
            con.close()
