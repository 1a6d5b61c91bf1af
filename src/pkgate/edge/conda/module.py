"""Building the conda ecosystem for a config: its upstreams' clients and document caches.

Clients and caches of upstreams whose URL, credentials and timeout did not change are kept across
a reload (their breakers and cached documents with them).
"""

from __future__ import annotations

from typing import Final

from pkgate import config as config_mod
from pkgate.edge.breaker import Breaker
from pkgate.edge.client import UpstreamClient, auth_headers
from pkgate.edge.conda.cache import DocCache
from pkgate.edge.conda.ecosystem import CondaEcosystem, Handle
from pkgate.edge.ecosystem import Build, Ecosystem
from pkgate.edge.failover import UpstreamHandle

__all__ = ["MODULE", "CondaModule"]

#: What the gateway asks a channel host for: any of its documents.
ACCEPT: Final = "application/json, application/octet-stream;q=0.9, */*;q=0.5"


class CondaModule:
    name: Final = "conda"

    def build(self, build: Build, previous: Ecosystem | None) -> CondaEcosystem:
        cfg, gw = build.cfg, build.cfg.gateway
        old = previous.upstreams if isinstance(previous, CondaEcosystem) else {}
        handles: dict[str, Handle] = {}
        for name, up in cfg.upstreams.items():
            if up.ecosystem != "conda":
                continue
            headers = auth_headers(config_mod.credentials(name, up))
            timeout = up.timeout or gw.upstream_timeout
            base = up.url if up.url.endswith("/") else up.url + "/"
            signature = (base, tuple(sorted(headers.items())), timeout)
            kept = old.get(name)
            if kept is not None and kept.signature == signature:
                client, cache = kept.client, kept.cache
                client.max_bytes = gw.max_page_bytes
                client.breaker.threshold = cfg.routing.breaker_threshold
                client.breaker.cooldown = cfg.routing.breaker_cooldown
                cache.ttl, cache.stale_ttl, cache.cache_bytes = gw.cache_ttl, gw.stale_ttl, gw.cache_bytes
            else:
                client = UpstreamClient(
                    name,
                    base,
                    build.client,
                    accept=ACCEPT,
                    max_bytes=gw.max_page_bytes,
                    breaker=Breaker(cfg.routing.breaker_threshold, cfg.routing.breaker_cooldown),
                    timeout=timeout,
                    headers=headers,
                )
                cache = DocCache(client, gw.cache_ttl, gw.stale_ttl, gw.cache_bytes)
            handles[name] = UpstreamHandle(name, client, cache, up.mode, up.authoritative, signature)
        return CondaEcosystem(cfg, handles, build.metrics, cfg.serves("conda"))


MODULE: Final = CondaModule()
