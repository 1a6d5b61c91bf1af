"""The Python ecosystem's routing table for one config: its upstreams (page caches) and rules."""

from __future__ import annotations

import httpx

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.edge.breaker import Breaker
from pkgate.edge.client import UpstreamClient, auth_headers
from pkgate.edge.failover import Table, UpstreamHandle
from pkgate.edge.metrics import Metrics
from pkgate.edge.routing import Router
from pkgate.edge.upstream import ACCEPT_BY_KIND, PageCache

__all__ = ["build_table"]


def build_table(
    cfg: Config,
    http: httpx.AsyncClient,
    metrics: Metrics,
    previous: Table | None = None,
    generation: int = 0,
) -> Table:
    """A routing table for `cfg`; raises ConfigError (e.g. a credential variable is not set)."""
    gw = cfg.gateway
    handles: dict[str, UpstreamHandle] = {}
    for name, up in cfg.upstreams.items():
        headers = auth_headers(config_mod.credentials(name, up))
        timeout = up.timeout or gw.upstream_timeout
        base = up.url if up.url.endswith("/") else up.url + "/"
        signature = (base, up.kind, tuple(sorted(headers.items())), timeout)
        old = previous.upstreams.get(name) if previous is not None else None
        if old is not None and old.signature == signature:
            client, cache = old.client, old.cache
            client.max_bytes = gw.max_page_bytes
            client.breaker.threshold = cfg.routing.breaker_threshold
            client.breaker.cooldown = cfg.routing.breaker_cooldown
            cache.ttl, cache.stale_ttl, cache.cache_bytes = gw.cache_ttl, gw.stale_ttl, gw.cache_bytes
        else:
            client = UpstreamClient(
                name,
                base,
                http,
                accept=ACCEPT_BY_KIND[up.kind],
                max_bytes=gw.max_page_bytes,
                breaker=Breaker(cfg.routing.breaker_threshold, cfg.routing.breaker_cooldown),
                timeout=timeout,
                headers=headers,
            )
            cache = PageCache(client, gw.cache_ttl, gw.stale_ttl, cache_bytes=gw.cache_bytes)
        handles[name] = UpstreamHandle(name, client, cache, up.mode, up.authoritative, signature)
    return Table(Router(cfg), handles, metrics, generation)
