"""Config checks and SIGHUP reload for `pkgate serve`, apart from running the workers.

`preflight` fails fast, with the key named, on config that only the workers would trip over; it runs
at start and again on every reload. `HangupReloader` replaces granian's own SIGHUP handling (respawn
every worker), because respawned workers would drop their page caches and breakers, and a bad file
would crash-loop them. Here the file is validated first and a bad one is logged and ignored; the
workers switch to a published one in place (edge/published.py, edge/reloader.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.edge.clientip import ClientIP
from pkgate.edge.published import check_reloadable, publish, read_source
from pkgate.enrich.geo import GeoLookup
from pkgate.errors import ConfigError, PkgateError

log = logging.getLogger("pkgate.server")  # the supervisor's one logger, whichever module logs


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
