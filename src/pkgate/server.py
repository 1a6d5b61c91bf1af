"""`pkgate serve`: one process supervising granian workers plus the spool loader thread.

Workers (spawned fresh, never forked from a process with threads) answer requests and spool events;
this process owns the data directory (an exclusive lock), seals segments left open by a crash, and
runs the loader every `storage.load_interval`; on shutdown it drains the spool into the store.

It also publishes the config the workers run (see edge/reload.py) and takes SIGHUP as "reload the
config file": granian's own SIGHUP handling (respawn every worker) is replaced, because respawned
workers would drop their page caches and breakers, and a bad file would crash-loop them. Here the
file is validated first and a bad one is logged and ignored; workers switch in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Protocol

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.edge.app import load_secret, spool_dir
from pkgate.edge.clientip import ClientIP
from pkgate.edge.reload import ACTIVE_ENV, check_reloadable, publish
from pkgate.enrich.geo import GeoLookup
from pkgate.enrich.sources import SourceHasher
from pkgate.errors import ConfigError, FleetError, PkgateError, StoreError
from pkgate.events import now_us
from pkgate.events.spool import seal_all
from pkgate.extras import require
from pkgate.store import Loader
from pkgate.store.rollups import apply_retention, refresh_rollups

if TYPE_CHECKING:
    from pkgate.events.nats import Forwarder  # the `fleet` extra: imported only in fleet mode

log = logging.getLogger("pkgate.server")


def store_path(cfg: Config) -> Path:
    return cfg.paths.store


def lock_data_dir(cfg: Config) -> IO[bytes]:
    """Exclusive lock so two gateways never share a spool and a store by accident."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(cfg.paths.lock, "wb")  # noqa: SIM115 - held for the process lifetime
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise PkgateError(f"{cfg.data_dir} is in use by another pkgate process") from None
    return fh


def preflight(cfg: Config) -> None:
    """Fail fast, with the key named, on config that only the workers would otherwise trip over."""
    ClientIP(cfg.privacy.trusted_proxies, header=cfg.privacy.forwarded_header)
    GeoLookup(
        Path(cfg.privacy.asn_db) if cfg.privacy.asn_db else None, [Path(p) for p in cfg.privacy.cloud_ranges]
    ).close()
    for name, up in cfg.upstreams.items():
        config_mod.credentials(name, up)  # set in this environment? (workers inherit it)


def active_config(cfg: Config) -> Path:
    """Where the config the workers run is published."""
    return cfg.paths.active_config  # a config file like any other (0600)


def _source_text(config_path: str | None) -> str:
    if config_path is None:
        return ""
    try:
        return Path(config_path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{config_path}: cannot read: {exc}") from None


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
                text = _source_text(self.config_path)
                new = config_mod.parse(text, self.config_path or "defaults")
                preflight(new)
                check_reloadable(self.cfg, new)
                generation = publish(active_config(self.cfg), text, self.config_path or "defaults")
            except (PkgateError, OSError) as exc:
                origin = self.config_path or "defaults"
                error = str(exc) if str(exc).startswith(origin) else f"{origin}: {exc}"
                log.error("config reload rejected, the running config stays: %s", error)
                return None
            log.info("config generation %d published", generation)
            return generation


class Consumer(Protocol):
    def run_once(self) -> int: ...


def spool_consumer(cfg: Config) -> Loader | Forwarder:
    """The local store's loader, or in fleet mode the forwarder to NATS JetStream."""
    if cfg.fleet.nats_url:
        require("fleet", "fleet.nats_url (fleet mode)")
        from pkgate.events.nats import Forwarder

        return Forwarder(
            spool_dir(cfg),
            cfg.fleet.nats_url,
            subject=cfg.fleet.subject,
            stream=cfg.fleet.stream,
            keys_dir=cfg.paths.keys,  # share the day's source-id key with the fleet
        )
    return Loader(store_path(cfg), spool_dir(cfg))


class LoaderThread(threading.Thread):
    """Consumes the spool every `interval`; deletes expired source-id keys even when idle; keeps the
    store's rollups fresh (at most every `max(300 s, 10 x the last refresh)`) and applies retention
    hourly."""

    def __init__(
        self, loader: Consumer, interval: float, keys: SourceHasher, retention_days: int = 0
    ) -> None:
        super().__init__(name="pkgate-loader", daemon=True)
        self.loader = loader
        self.interval = interval
        self.keys = keys
        self.retention_days = retention_days
        self.stopping = threading.Event()
        self._next_rollup = 0.0
        self._next_retention = 0.0

    def run(self) -> None:
        # Answering requests comes first: on a busy machine the loader may lag (the spool holds the
        # events, /healthz shows the lag); nice 10, not 19, which starved it in the benchmark.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self.stopping.wait(self.interval):
            try:
                self.keys.purge_old_keys(now_us())
                self.loader.run_once()
                if isinstance(self.loader, Loader):
                    self._maintain(self.loader)
            except (PkgateError, OSError) as exc:
                log.error("loader: %s (will retry)", exc)
            except Exception:
                log.exception("loader failed (will retry)")

    def _maintain(self, loader: Loader) -> None:
        now = time.monotonic()
        if now < self._next_rollup and (not self.retention_days or now < self._next_retention):
            return
        con = loader.connect()
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


def drain(cfg: Config) -> int:
    """Consume everything spooled (after sealing open segments). Call only without running workers."""
    seal_all(spool_dir(cfg))
    consumer = spool_consumer(cfg)
    total = 0
    try:
        while True:
            n = consumer.run_once()
            total += n
            if n == 0:
                break
    finally:
        if not isinstance(consumer, Loader):
            consumer.close()
    if isinstance(consumer, Loader):  # reports right after a stop see exact, rolled-up numbers
        con = consumer.connect()
        try:
            refresh_rollups(con)
        finally:
            con.close()
    return total


def serve(cfg: Config, config_path: str | None) -> None:
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
        active = active_config(cfg)
        publish(active, _source_text(config_path), config_path or "defaults")
        os.environ[ACTIVE_ENV] = str(active)
        hangup = HangupReloader(cfg, config_path)
        multiprocessing.set_start_method("spawn", force=True)
        keys = SourceHasher(cfg.paths.keys, cfg.privacy.window_days or None)
        consumer = spool_consumer(cfg)
        loader = LoaderThread(consumer, cfg.storage.load_interval, keys, cfg.storage.retention_days)
        loader.start()
        target = "pkgate.edge.app:rsgi_app" if cfg.server.interface == "rsgi" else "pkgate.edge.app:asgi_app"
        server = Granian(
            target,
            address=cfg.server.host,
            port=cfg.server.port,
            interface=Interfaces.RSGI if cfg.server.interface == "rsgi" else Interfaces.ASGI,
            workers=cfg.server.workers,
            factory=True,
            log_access=False,  # its access log would print client IPs
        )
        server.on_startup(hangup.install)  # runs after granian installed its own SIGHUP handler
        try:
            server.serve()
        finally:
            loader.stopping.set()
            loader.join(timeout=30)
            if not isinstance(consumer, Loader) and not loader.is_alive():
                consumer.close()
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
            store_path(cfg), cfg.fleet.nats_url, subject=cfg.fleet.subject, stream=cfg.fleet.stream
        )

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
