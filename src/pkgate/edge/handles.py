"""One `UpstreamHandle` per `[upstreams.*]` entry of an ecosystem, kept across reloads.

Every ecosystem builds its upstreams the same way: credentials read from the environment, the
configured timeout, a circuit breaker, the worker's pooled HTTP client, and its own cache (page
cache, document cache, registry state). A reload keeps an upstream's client, breaker and cache
when what they were made from (its signature: URL, credentials, timeout, and what the ecosystem
adds) did not change, and only updates the settings that can change in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import httpx

from pkgate import config as config_mod
from pkgate.config import Config, Gateway, Upstream
from pkgate.edge.breaker import Breaker
from pkgate.edge.client import UpstreamClient, auth_headers
from pkgate.edge.failover import UpstreamHandle

__all__ = ["build_handles", "slash"]

C = TypeVar("C")


def slash(url: str) -> str:
    """A base URL that relative paths can be joined to."""
    return url if url.endswith("/") else url + "/"


def build_handles(
    cfg: Config,
    ecosystem: str,
    http: httpx.AsyncClient,
    previous: Mapping[str, UpstreamHandle[C]] | None,
    new_cache: Callable[[UpstreamClient], C],
    *,
    accept: Callable[[Upstream], str],
    refresh: Callable[[C, Gateway], None] | None = None,
    base: Callable[[str], str] = slash,
    max_bytes: int | None = None,
    signed: Callable[[Upstream], tuple[Any, ...]] = lambda up: (),
) -> dict[str, UpstreamHandle[C]]:
    """A handle per upstream of `ecosystem`; raises ConfigError (a credential is not set).

    `new_cache` makes an upstream's cache for a new client; `refresh` applies the gateway's
    settings to a kept one; `signed` adds what else must stay equal for a reload to keep it
    (Python: the page format asked for); `max_bytes` defaults to `gateway.max_page_bytes`.
    """
    gw = cfg.gateway
    limit = gw.max_page_bytes if max_bytes is None else max_bytes
    handles: dict[str, UpstreamHandle[C]] = {}
    for name, up in cfg.upstreams.items():
        if up.ecosystem != ecosystem:
            continue
        headers = auth_headers(config_mod.credentials(name, up))
        timeout = up.timeout or gw.upstream_timeout
        url = base(up.url)
        signature = (url, *signed(up), tuple(sorted(headers.items())), timeout)
        old = previous.get(name) if previous is not None else None
        if old is not None and old.signature == signature:
            client, cache = old.client, old.cache
            client.max_bytes = limit
            client.breaker.threshold = cfg.routing.breaker_threshold
            client.breaker.cooldown = cfg.routing.breaker_cooldown
            if refresh is not None:
                refresh(cache, gw)
        else:
            client = UpstreamClient(
                name,
                url,
                http,
                accept=accept(up),
                max_bytes=limit,
                breaker=Breaker(cfg.routing.breaker_threshold, cfg.routing.breaker_cooldown),
                timeout=timeout,
                headers=headers,
            )
            cache = new_cache(client)
        handles[name] = UpstreamHandle(name, client, cache, up.mode, up.authoritative, signature)
    return handles
