"""`pkgate serve`: one process supervising granian workers plus the spool loader thread.

Workers (spawned fresh, never forked from a process with threads) answer requests and spool events;
this process owns the data directory (an exclusive lock), seals segments left open by a crash, and
runs the loader every `storage.load_interval`; on shutdown it drains the spool into the store.

It also publishes the config the workers run (see edge/published.py) and takes SIGHUP as "reload the
config file": granian's own SIGHUP handling (respawn every worker) is replaced, because respawned
workers would drop their page caches and breakers, and a bad file would crash-loop them. Here the
file is validated first and a bad one is logged and ignored; workers switch in place.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Protocol

from pkgate import config as config_mod
from pkgate import startup
from pkgate.config import Config
from pkgate.edge.clientip import ClientIP
from pkgate.edge.published import ACTIVE_ENV, check_reloadable, publish, read_source
from pkgate.edge.secret import load_secret
from pkgate.enrich.geo import GeoLookup
from pkgate.enrich.metadata import MetadataFetcher, UpstreamSite
from pkgate.enrich.sources import SourceHasher
from pkgate.errors import ConfigError, FleetError, PkgateError, StoreError
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

log = logging.getLogger("pkgate.server")


def lock_data_dir(cfg: Config) -> IO[bytes]:
    """Exclusive lock so two gateways never share a spool and a store by accident."""
    return startup.lock_data_dir(cfg)


def preflight(cfg: Config) -> None:
    """Fail fast, with the key named, on config that only the workers would otherwise trip over."""
    ClientIP(cfg.privacy.trusted_proxies, header=cfg.privacy.forwarded_header)
    GeoLookup(
        Path(cfg.privacy.asn_db) if cfg.privacy.asn_db else None,
        [Path(p) for p in cfg.privacy.cloud_ranges],
        builtin_asn=False,  # nothing to check in the bundled database; do not load it here
    ).close()
    for name, up in cfg.upstreams.items():
        config_mod.credentials(name, up)  # set in this environment? (workers inherit it)


class HangupReloader:
    """SIGHUP: validate the config file and publish it for the workers, or log why not."""

    def __init__(self, cfg: Config, config_path: str | None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self._lock = threading.Lock()

    def install(self) -> None:
        signal.signal(signal.SIGHUP, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Off the signal handler: file IO and validation do not belong in it.
        threading.Thread(target=self.reload, name="pkgate-reload", daemon=True).start()

    def reload(self) -> int | None:
        """The published generation, or None when the new config was rejected (old one stays)."""
        with self._lock:
            try:
                text = read_source(self.config_path)
                new = config_mod.parse(text, self.config_path or "defaults")
                preflight(new)
                check_reloadable(self.cfg, new)
                generation = publish(self.cfg.paths.active_config, text, self.config_path or "defaults")
            except ConfigError as exc:
                return self._rejected(str(exc.located(self.config_path or "defaults")))
            except (PkgateError, OSError) as exc:
                return self._rejected(str(exc))
            log.info("config generation %d published", generation)
            return generation

    @staticmethod
    def _rejected(error: str) -> None:
        log.error("config reload rejected, the running config stays: %s", error)


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


def _workers_skip_main() -> None:
    """A spawned process first re-runs its parent's `__main__` script; under the `pkgate` console
    script that is the whole CLI, DuckDB and Arrow included, ~50 MB per worker that a worker never
    uses (it imports its app by name). Without a script path to re-run, it imports only the app."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and hasattr(main, "__file__"):
        with contextlib.suppress(AttributeError, TypeError):
            del main.__file__


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


def serve(cfg: Config, config_path: str | None, app: str = "pkgate.edge.app") -> None:
    """Serve until interrupted; `app` is the module whose `rsgi_app`/`asgi_app` factories granian's
    workers call (`pkgate demo` passes its own, with a simulated clock)."""
    from granian import Granian
    from granian.constants import Interfaces

    preflight(cfg)
    lock = lock_data_dir(cfg)
    try:
        load_secret(cfg)  # create it once here, before workers race for it
        try:
            recovered = drain(cfg)
        except (FleetError, StoreError) as exc:  # NATS down or store unusable: serve anyway;
            log.error("%s", exc)  # the spool keeps the events and the loader retries
        else:
            if recovered:
                log.warning("consumed %d events left in the spool by an earlier run", recovered)
        if config_path is not None:
            config_path = str(Path(config_path).resolve())
            os.environ["PKGATE_CONFIG"] = config_path
        active = cfg.paths.active_config
        publish(active, read_source(config_path), config_path or "defaults")
        os.environ[ACTIVE_ENV] = str(active)
        hangup = HangupReloader(cfg, config_path)
        multiprocessing.set_start_method("spawn", force=True)
        _workers_skip_main()
        keys = SourceHasher(cfg.paths.keys)
        loader = LoaderThread(spool_consumer(cfg), cfg.storage.load_interval, keys)
        loader.start()
        target = f"{app}:rsgi_app" if cfg.server.interface == "rsgi" else f"{app}:asgi_app"
        server = Granian(
            target,
            address=cfg.server.host,
            port=cfg.server.port,
            interface=Interfaces.RSGI if cfg.server.interface == "rsgi" else Interfaces.ASGI,
            workers=cfg.server.workers,
            factory=True,
            log_access=False,  # its access log would print client IPs
            respawn_failed_workers=True,  # a crashed worker is replaced, not the end of the gateway
        )
        server.on_startup(hangup.install)  # runs after granian installed its own SIGHUP handler
        try:
            server.serve()
        finally:
            loader.stopping.set()
            loader.join(timeout=30)
            if not loader.is_alive():
                loader.consumer.close()
            try:
                drain(cfg)
            except (StoreError, FleetError) as exc:
                log.error("final drain failed, the spool keeps the events: %s", exc)
    finally:
        lock.close()


def collect(cfg: Config) -> None:
    """`pkgate collect`: consume the fleet's events from NATS JetStream into this data_dir's store."""
    import asyncio

    if not cfg.fleet.nats_url:
        raise ConfigError("fleet.nats_url: required for `pkgate collect`")
    require("fleet", "`pkgate collect`")
    from pkgate.store.collector import Collector

    lock = lock_data_dir(cfg)
    try:
        collector = Collector(
            cfg.paths.store, cfg.fleet.nats_url, subject=cfg.fleet.subject, stream=cfg.fleet.stream
        )
        alerts = alert_runner(cfg)
        if alerts is not None:
            collector.maintain = lambda: alerts.maybe_run(collector.connect)

        async def run() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await collector.run(stop)

        asyncio.run(run())
        log.info("collected %d events", collector.collected_total)
    finally:
        lock.close()
