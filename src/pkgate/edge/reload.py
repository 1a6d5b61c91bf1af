"""Switching config on the fly: build a new routing table, check it, swap it in whole.

A reload is all-or-nothing: the new file is parsed and validated, credentials are resolved and the
new `failover.Table` is built before anything changes; any error leaves the running config alone
and is reported (logged, and in the admin response). Caches and breakers of upstreams whose URL,
kind, credentials and timeout did not change are carried over, so a reload does not empty the page
cache (stale copies survive it) or forget that an upstream is down.

Under `pkgate serve` several worker processes must switch together, so a validated config is
*published*: its text is written (0600, atomic rename) to `<data_dir>/run/pkgate.toml` with a
generation number in its first line. Every worker polls that file's stat every `POLL` seconds and
applies a newer generation; workers that granian starts later read the same file. SIGHUP to the
main process and `POST /admin/reload` on any worker both publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
from pathlib import Path
from typing import Final

import httpx

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.edge import registry
from pkgate.edge.ecosystem import Build
from pkgate.edge.gateway import Gateway
from pkgate.edge.links import LinkSigner
from pkgate.errors import ConfigError
from pkgate.fsutil import atomic_write

__all__ = [
    "ACTIVE_ENV",
    "POLL",
    "Reloader",
    "check_reloadable",
    "publish",
    "read_generation",
    "read_published",
]

log = logging.getLogger("pkgate.reload")

#: Environment variable naming the published config file (set by `pkgate serve` for its workers).
ACTIVE_ENV: Final = "PKGATE_ACTIVE_CONFIG"
POLL: Final = 0.25
_HEADER: Final = "# pkgate-generation "
#: Keys a reload cannot change in a running process (they need a restart).
_FIXED: Final = (
    "server",
    "storage",
    "privacy",
    "fleet",
    "gateway.id",
    "gateway.secret",
    "gateway.demo_clock",
)


def check_reloadable(old: Config, new: Config) -> None:
    """Refuse a reload that changes keys only a restart can apply.

    Applying the rest would split the fleet: workers granian starts later read the published file
    and would use, say, a new `gateway.secret` while the others keep the old one.
    """
    changed = []
    for key in _FIXED:
        section, _, field = key.partition(".")
        a, b = getattr(old, section), getattr(new, section)
        if field:
            a, b = getattr(a, field), getattr(b, field)
        if a != b:
            changed.append(key)
    if changed:
        raise ConfigError(f"{', '.join(changed)}: cannot change while running; restart pkgate serve instead")


# ---- the published config ---------------------------------------------------------------------


def generation_of(text: str) -> int:
    """The generation in a published config's first line; 0 if absent."""
    if text.startswith(_HEADER):
        with contextlib.suppress(ValueError, IndexError):
            return int(text[len(_HEADER) :].split(maxsplit=1)[0])
    return 0


def read_generation(path: Path) -> int:
    try:
        with path.open(encoding="utf-8") as fh:
            return generation_of(fh.readline())
    except (OSError, UnicodeDecodeError):
        return 0


def read_published(path: Path) -> tuple[Config, int]:
    """The published config and its generation, from one read (a newer file may replace it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return config_mod.parse(text, str(path)), generation_of(text)


def publish(active: Path, text: str, source: str) -> int:
    """Write a validated config as the next generation (0600, atomic); its generation number."""
    active.parent.mkdir(parents=True, exist_ok=True)
    with open(active.with_suffix(".lock"), "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        generation = read_generation(active) + 1
        atomic_write(active, f"{_HEADER}{generation} source {source}\n{text}".encode())
    return generation


def _read_source(source: str | None) -> str:
    if source is None:
        return ""
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from None


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
        self._stat: tuple[int, int, int] | None = _stat(active) if active is not None else None
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
                text = _read_source(self.source)
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
                error = _named(str(exc), self.source or "defaults")
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


def _named(message: str, origin: str) -> str:
    """Every config error names the file (credential errors come without it)."""
    return message if message.startswith(origin) else f"{origin}: {message}"


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size
