"""`pkgate serve`: one process supervising granian workers plus the spool loader thread.

Workers (spawned fresh, never forked from a process with threads) answer requests and spool events;
this process owns the data directory (an exclusive lock), seals segments left open by a crash, and
runs the loader every `storage.load_interval`; on shutdown it drains the spool into the store.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import threading
from pathlib import Path
from typing import IO

from pkgate.config import Config
from pkgate.edge.app import load_secret, spool_dir
from pkgate.edge.clientip import ClientIP
from pkgate.enrich.geo import GeoLookup
from pkgate.enrich.sources import SourceHasher
from pkgate.errors import PkgateError, StoreError
from pkgate.events import now_us
from pkgate.events.spool import seal_all
from pkgate.store import Loader

log = logging.getLogger("pkgate.server")


def store_path(cfg: Config) -> Path:
    return cfg.data_dir / "pkgate.duckdb"


def lock_data_dir(cfg: Config) -> IO[bytes]:
    """Exclusive lock so two gateways never share a spool and a store by accident."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    fh = open(cfg.data_dir / "lock", "wb")  # noqa: SIM115 - held for the process lifetime
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


class LoaderThread(threading.Thread):
    """Loads the spool every `interval`; also deletes expired source-id keys even when idle."""

    def __init__(self, loader: Loader, interval: float, keys: SourceHasher) -> None:
        super().__init__(name="pkgate-loader", daemon=True)
        self.loader = loader
        self.interval = interval
        self.keys = keys
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.keys.purge_old_keys(now_us())
                self.loader.run_once()
            except (PkgateError, OSError) as exc:
                log.error("loader: %s (will retry)", exc)
            except Exception:
                log.exception("loader failed (will retry)")


def drain(cfg: Config) -> int:
    """Load everything spooled (after sealing open segments). Call only without running workers."""
    seal_all(spool_dir(cfg))
    loader = Loader(store_path(cfg), spool_dir(cfg))
    total = 0
    while True:
        n = loader.run_once()
        total += n
        if n == 0:
            return total


def serve(cfg: Config, config_path: str | None) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    preflight(cfg)
    lock = lock_data_dir(cfg)
    try:
        load_secret(cfg)  # create it once here, before workers race for it
        recovered = drain(cfg)
        if recovered:
            log.warning("loaded %d events left in the spool by an earlier run", recovered)
        if config_path is not None:
            os.environ["PKGATE_CONFIG"] = str(Path(config_path).resolve())
        multiprocessing.set_start_method("spawn", force=True)
        keys = SourceHasher(cfg.data_dir / "keys", cfg.privacy.window_days or None)
        loader = LoaderThread(Loader(store_path(cfg), spool_dir(cfg)), cfg.storage.load_interval, keys)
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
        try:
            server.serve()
        finally:
            loader.stopping.set()
            loader.join(timeout=30)
            try:
                drain(cfg)
            except StoreError as exc:
                log.error("final load failed, the spool keeps the events: %s", exc)
    finally:
        lock.close()
