"""Building the conda ecosystem for a config: its upstreams' clients and document caches.

Clients and caches of upstreams whose URL, credentials and timeout did not change are kept across
a reload (their breakers and cached documents with them).
"""

from __future__ import annotations

from typing import Final

from pkgate.config import Gateway
from pkgate.edge.conda.cache import DocCache
from pkgate.edge.conda.ecosystem import CondaEcosystem
from pkgate.edge.ecosystem import Build, Ecosystem
from pkgate.edge.handles import build_handles

__all__ = ["MODULE", "CondaModule"]

#: What the gateway asks a channel host for: any of its documents.
ACCEPT: Final = "application/json, application/octet-stream;q=0.9, */*;q=0.5"


class CondaModule:
    name: Final = "conda"

    def build(self, build: Build, previous: Ecosystem | None) -> CondaEcosystem:
        cfg, gw = build.cfg, build.cfg.gateway
        old = previous.upstreams if isinstance(previous, CondaEcosystem) else {}
        handles = build_handles(
            cfg,
            "conda",
            build.client,
            old,
            lambda client: DocCache(client, gw.cache_ttl, gw.stale_ttl, gw.cache_bytes),
            accept=lambda up: ACCEPT,
            refresh=_refresh,
        )
        return CondaEcosystem(cfg, handles, build.metrics, cfg.serves("conda"))


def _refresh(cache: DocCache, gw: Gateway) -> None:
    cache.ttl, cache.stale_ttl, cache.cache_bytes = gw.cache_ttl, gw.stale_ttl, gw.cache_bytes


MODULE: Final = CondaModule()
