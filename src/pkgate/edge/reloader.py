"""Switching one worker's config on the fly: build the new ecosystems, check them, swap them in.

A reload is all-or-nothing: the new file is parsed and validated, credentials are resolved and the
new ecosystems (`registry.build`) are built before anything changes; any error leaves the running
config alone and is reported (logged, and in the admin response). Clients, caches and breakers of
upstreams whose URL, kind, credentials and timeout did not change are carried over, so a reload does
not empty the page cache (stale copies survive it) or forget that an upstream is down.

Configs come from `POST /admin/reload` (re-read the file, validate, publish) and from the published
file (`published.py`), whose stat every worker polls every `POLL` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Final, NamedTuple

import httpx

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.edge import registry
from pkgate.edge.ecosystem import Build
from pkgate.edge.gateway import Gateway
from pkgate.edge.links import LinkSigner
from pkgate.edge.published import check_reloadable, publish, read_generation, read_published, read_source
from pkgate.errors import ConfigError

__all__ = ["POLL", "Reloader"]

log = logging.getLogger("pkgate.reload")

POLL: Final = 0.25


# ---- one worker's reloads ---------------------------------------------------------------------------


class Reloader:
    """Applies new configs to one worker's gateway: on request (admin) and from the published file."""

    def __init__(
        self,
        gateway: Gateway,
        client: httpx.AsyncClient,
        signer: LinkSigner,
        cfg: Config,
        source: str | None,
        active: Path | None,
        generation: int = 0,
    ) -> None:
        self.gateway = gateway
        self.client = client
        self.signer = signer
        self.cfg = cfg
        self.source = source
        self.active = active
        self.generation = generation
        self._stat: _Stamp | None = _stat(active) if active is not None else None
        self._lock = asyncio.Lock()
        gateway.metrics.snap.generation = generation
        gateway.metrics.dump(force=True)

    def _spec(self, cfg: Config, generation: int) -> Build:
        return Build(cfg, self.client, self.signer, self.gateway.metrics, generation)

    def _apply(self, cfg: Config, generation: int) -> None:
        """Check and build first (may raise), then swap: the old config stays on any error."""
        check_reloadable(self.cfg, cfg)
        ecosystems = registry.build(self._spec(cfg, generation), self.gateway.ecosystems)
        gw = cfg.gateway
        self.gateway.apply(ecosystems, gw.redirect_status, gw.admin_token)
        self.cfg = cfg
        self.generation = generation
        self.gateway.metrics.reload(True, generation)
        self.gateway.metrics.dump(force=True)  # /metrics shows which workers switched, even idle ones

    async def admin(self) -> tuple[int, dict[str, object]]:
        """Re-read the config file, validate, publish and apply; (status, result) for the admin."""
        async with self._lock:
            try:
                text = read_source(self.source)
                cfg = config_mod.parse(text, self.source or "defaults")
                check_reloadable(self.cfg, cfg)
                registry.build(self._spec(cfg, self.generation))  # credentials resolvable?
                generation = (
                    publish(self.active, text, self.source or "defaults")
                    if self.active is not None
                    else self.generation + 1
                )
                self._apply(cfg, generation)
            except (ConfigError, OSError) as exc:
                self.gateway.metrics.reload(False, self.generation)
                error = str(exc.located(self.source or "defaults") if isinstance(exc, ConfigError) else exc)
                log.error("config reload rejected, keeping generation %d: %s", self.generation, error)
                return 400, {"status": "rejected", "error": error, "generation": self.generation}
            if self.active is not None:
                self._stat = _stat(self.active)
        log.info("config generation %d applied (admin)", generation)
        return 200, {
            "status": "reloaded",
            "generation": generation,
            "upstreams": sorted(cfg.upstreams),
            "rules": len(cfg.routing.rules),
        }

    async def check(self) -> bool:
        """Apply the published config if it is newer than ours; True if something was applied."""
        if self.active is None:
            return False
        stat = _stat(self.active)
        if stat == self._stat:
            return False
        async with self._lock:
            self._stat = stat
            if read_generation(self.active) <= self.generation:
                return False
            try:
                cfg, generation = read_published(self.active)
                if generation <= self.generation:
                    return False
                self._apply(cfg, generation)
            except (ConfigError, OSError) as exc:
                self.gateway.metrics.reload(False, self.generation)
                log.error("published config not applied, keeping %d: %s", self.generation, exc)
                return False
        log.info("config generation %d applied", generation)
        return True

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(POLL)
            try:
                await self.check()
            except Exception:  # the watcher must survive anything
                log.exception("config watcher")


class _Stamp(NamedTuple):
    """What tells that the published file was replaced (a new inode) or rewritten."""

    inode: int
    mtime_ns: int
    size: int


def _stat(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _Stamp(st.st_ino, st.st_mtime_ns, st.st_size)
