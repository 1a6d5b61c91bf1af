"""What consumes the spool in the `pkgate serve` process: the local store's loader (with its
rollups, retention, alerts and dependency metadata) or, in fleet mode, the forwarder to NATS
JetStream; the thread that runs it every `storage.load_interval`; and the drain at start and stop.

The supervisor uses a consumer only through the `Consumer` protocol, never by its type.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Protocol

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.enrich.metadata import MetadataFetcher, UpstreamSite
from pkgate.enrich.sources import SourceHasher
from pkgate.errors import PkgateError
from pkgate.events import now_us
from pkgate.events.spool import seal_all
from pkgate.extras import require
from pkgate.store import Loader
from pkgate.store.deps import refresh_requires
from pkgate.store.rebuild import local_loader
from pkgate.store.rollups import apply_retention, refresh_rollups

if TYPE_CHECKING:
    from pkgate.events.nats import Forwarder  # the `fleet` extra: imported only in fleet mode
    from pkgate.report.alerts import AlertRunner

log = logging.getLogger("pkgate.server")  # the supervisor's one logger, whichever module logs


class Consumer(Protocol):
    """What takes the spool's events: the local store, or in fleet mode NATS JetStream."""

    def run_once(self) -> int:
        """Consume what is sealed in the spool; how many events."""
        ...

    def maintain(self) -> None:
        """Periodic upkeep after a `run_once` (the store's rollups and retention)."""
        ...

    def finish(self) -> None:
        """After a drain: make what was consumed exact for readers (the store's rollups)."""
        ...

    def report(self) -> None:
        """Log what was consumed and its CPU cost, when done (bench/redirect.sh reads it)."""
        ...

    def close(self) -> None: ...


class StoreConsumer:
    """Loads the spool into the local store; keeps its rollups fresh (at most every
    `max(300 s, 10 x the last refresh)`) and applies retention hourly."""

    def __init__(
        self,
        loader: Loader,
        retention_days: int = 0,
        alerts: AlertRunner | None = None,
        metadata: MetadataFetcher | None = None,
    ) -> None:
        self.loader = loader
        self.retention_days = retention_days
        self.alerts = alerts
        self.metadata = metadata
        self._next_rollup = 0.0
        self._next_retention = 0.0

    def run_once(self) -> int:
        return self.loader.run_once()

    def maintain(self) -> None:
        if self.alerts is not None:  # alerts are evaluated here, in the loader thread, never per request
            self.alerts.maybe_run(self.loader.connect)
        now = time.monotonic()
        if now < self._next_rollup and (not self.retention_days or now < self._next_retention):
            return
        self._requires()
        con = self.loader.connect()
        try:
            started = time.monotonic()
            if self.retention_days and now >= self._next_retention:
                folded = apply_retention(con, self.retention_days)  # refreshes first
                if folded:
                    log.info(
                        "retention: folded %d events older than %d days into rollups",
                        folded,
                        self.retention_days,
                    )
                self._next_retention = now + 3600
            else:
                refresh_rollups(con)
            self._next_rollup = now + max(300.0, 10 * (time.monotonic() - started))
        finally:
            con.close()

    def _requires(self) -> None:
        """Requires-Dist of newly downloaded versions (bounded in count and time; the store is
        closed while the upstreams answer, and a failure only costs this round)."""
        if self.metadata is None:
            return
        try:
            refresh_requires(self.loader.connect, self.metadata)
        except Exception:
            log.exception("reading dependency metadata failed")

    def finish(self) -> None:
        self._requires()
        con = self.loader.connect()
        try:
            refresh_rollups(con)
        finally:
            con.close()

    def report(self) -> None:
        loader = self.loader
        if loader.loaded_total:
            log.info(
                "loader: %d events in %.2f CPU-s of its thread (%.0f per CPU-s)",
                loader.loaded_total,
                loader.cpu_s,
                loader.loaded_total / max(loader.cpu_s, 1e-9),
            )

    def close(self) -> None:
        if self.metadata is not None:
            self.metadata.close()


def metadata_fetcher(cfg: Config) -> MetadataFetcher | None:
    """The fetcher of dependency metadata from the configured upstreams (None: switched off)."""
    if not cfg.storage.dependency_metadata:
        return None
    sites = {
        name: UpstreamSite(up.url if up.url.endswith("/") else up.url + "/", config_mod.credentials(name, up))
        for name, up in cfg.upstreams.items()
    }
    return MetadataFetcher(sites, cfg.gateway.default_upstream)


class FleetConsumer:
    """Forwards the spool to NATS JetStream (`pkgate collect` fills the store elsewhere)."""

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder

    def run_once(self) -> int:
        return self.forwarder.run_once()

    def maintain(self) -> None:
        pass

    def finish(self) -> None:
        pass

    def report(self) -> None:
        pass

    def close(self) -> None:
        self.forwarder.close()


def spool_consumer(cfg: Config) -> Consumer:
    """The local store's loader, or in fleet mode the forwarder to NATS JetStream."""
    if cfg.fleet.nats_url:
        require("fleet", "fleet.nats_url (fleet mode)")
        from pkgate.events.nats import Forwarder

        return FleetConsumer(
            Forwarder(
                cfg.paths.spool,
                cfg.fleet.nats_url,
                subject=cfg.fleet.subject,
                stream=cfg.fleet.stream,
                keys_dir=cfg.paths.keys,  # share the day's source-id key with the fleet
            )
        )
    # keeps loaded segments; rebuilds a damaged store (store.rebuild)
    return StoreConsumer(
        local_loader(cfg),
        cfg.storage.retention_days,
        alerts=alert_runner(cfg),
        metadata=metadata_fetcher(cfg),
    )


def alert_runner(cfg: Config) -> AlertRunner | None:
    """The `[alerts]` runner, or None when no rule is configured."""
    if not cfg.alerts.rules:
        return None
    from pkgate.report.alerts import AlertRunner

    return AlertRunner(cfg.alerts)


class LoaderThread(threading.Thread):
    """Consumes the spool every `interval` and lets the consumer do its upkeep; deletes expired
    source-id keys even when idle."""

    def __init__(self, consumer: Consumer, interval: float, keys: SourceHasher) -> None:
        super().__init__(name="pkgate-loader", daemon=True)
        self.consumer = consumer
        self.interval = interval
        self.keys = keys
        self.stopping = threading.Event()

    def run(self) -> None:
        # Answering requests comes first: on a busy machine the loader may lag (the spool holds the
        # events, /healthz shows the lag); nice 10, not 19, which starved it in the benchmark.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self.stopping.wait(self.interval):
            try:
                self.keys.purge_old_keys(now_us())
                self.consumer.run_once()
                self.consumer.maintain()
            except (PkgateError, OSError) as exc:
                log.error("loader: %s (will retry)", exc)
            except Exception:
                log.exception("loader failed (will retry)")
        self.consumer.report()


def drain(cfg: Config) -> int:
    """Consume everything spooled (after sealing open segments). Call only without running workers."""
    seal_all(cfg.paths.spool)
    consumer = spool_consumer(cfg)
    total = 0
    try:
        while True:
            n = consumer.run_once()
            total += n
            if n == 0:
                break
    finally:
        consumer.report()
        consumer.close()
    consumer.finish()  # reports right after a stop see exact, rolled-up numbers
    return total
