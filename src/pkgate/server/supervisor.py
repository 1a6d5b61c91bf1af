"""`pkgate serve`: one process supervising granian workers plus the spool loader thread; and
`pkgate collect`, the fleet's store filled from NATS JetStream.

Workers (spawned fresh, never forked from a process with threads) answer requests and spool events;
this process owns the data directory (an exclusive lock), seals segments left open by a crash, and
runs the loader every `storage.load_interval` (server/consume.py); on shutdown it drains the spool
into the store. It also publishes the config the workers run and takes SIGHUP as "reload the config
file" (server/reload.py).
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path

from pkgate.config import Config
from pkgate.edge.published import ACTIVE_ENV, publish, read_source
from pkgate.edge.secret import load_secret
from pkgate.enrich.sources import SourceHasher
from pkgate.errors import ConfigError, FleetError, StoreError
from pkgate.extras import require
from pkgate.server.consume import LoaderThread, alert_runner, drain, spool_consumer
from pkgate.server.reload import HangupReloader, preflight
from pkgate.server.stopping import StopWatch, Waking
from pkgate.startup import lock_data_dir

log = logging.getLogger("pkgate.server")  # the supervisor's one logger, whichever module logs


def _workers_skip_main() -> None:
    """A spawned process first re-runs its parent's `__main__` script; under the `pkgate` console
    script that is the whole CLI, DuckDB and Arrow included, ~50 MB per worker that a worker never
    uses (it imports its app by name). Without a script path to re-run, it imports only the app."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None and hasattr(main, "__file__"):
        with contextlib.suppress(AttributeError, TypeError):
            del main.__file__


def serve(cfg: Config, config_path: str | None, app: str = "pkgate.edge.app") -> None:
    """Serve until interrupted; `app` is the module whose `rsgi_app`/`asgi_app` factories granian's
    workers call (`pkgate demo` passes its own, with a simulated clock)."""
    from granian import Granian
    from granian.constants import Interfaces

    preflight(cfg)
    # A stuck supervisor tells where it is stuck: `kill -USR1 <pid>` prints every thread's stack.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
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
            workers_kill_timeout=cfg.server.stop_timeout,  # a stuck worker cannot hold up a stop
        )
        server.main_loop_interrupt = Waking()  # a stop signal another thread takes still stops it
        server.on_startup(hangup.install)  # runs after granian installed its own SIGHUP handler
        server.on_startup(StopWatch(cfg.server.stop_timeout).install)  # and its SIGTERM/SIGINT ones
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
