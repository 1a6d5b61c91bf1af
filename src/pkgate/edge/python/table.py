"""The Python ecosystem's routing table for one config: its upstreams (page caches) and rules."""

from __future__ import annotations

import base64

import httpx

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.edge.breaker import Breaker
from pkgate.edge.failover import Table, UpstreamHandle
from pkgate.edge.metrics import Metrics
from pkgate.edge.proxy import origin
from pkgate.edge.routing import Router
from pkgate.edge.upstream import ACCEPT_BY_KIND, PageCache

__all__ = ["auth_headers", "build_table"]


def auth_headers(creds: tuple[str, str] | str | None) -> dict[str, str]:
    if creds is None:
        return {}
    if isinstance(creds, str):
        return {"Authorization": f"Bearer {creds}"}
    pair = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")
    return {"Authorization": f"Basic {pair}"}


def build_table(
    cfg: Config,
    client: httpx.AsyncClient,
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
            cache = old.cache
            cache.ttl, cache.stale_ttl, cache.max_bytes = gw.cache_ttl, gw.stale_ttl, gw.max_page_bytes
            cache.cache_bytes = gw.cache_bytes
            cache.breaker.threshold = cfg.routing.breaker_threshold
            cache.breaker.cooldown = cfg.routing.breaker_cooldown
        else:
            cache = PageCache(
                name,
                base,
                client,
                gw.cache_ttl,
                gw.stale_ttl,
                gw.max_page_bytes,
                breaker=Breaker(cfg.routing.breaker_threshold, cfg.routing.breaker_cooldown),
                timeout=timeout,
                headers=headers,
                accept=ACCEPT_BY_KIND[up.kind],
                cache_bytes=gw.cache_bytes,
            )
        handles[name] = UpstreamHandle(name, cache, up.mode, up.authoritative, origin(base), signature)
    return Table(Router(cfg), handles, metrics, generation)
