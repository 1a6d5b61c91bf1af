"""npm registry documents of one upstream: the pattern of `edge/upstream.PageCache` for JSON.

A packument (full or abbreviated, a separate entry each: the upstream answers them differently)
is kept parsed, as the upstream's own JSON object, for `cache_ttl`; then revalidated with the
upstream's validators. When the upstream fails, the caller (`failover.first_of`) asks the route's
other upstreams and then takes `stale()`: the last good copy, up to `stale_ttl`. Memory is bounded
by `cache_bytes` (oldest entries evicted first) and by a bounded negative cache; concurrent misses
for one document share one upstream request. Rewritten bodies are memoised on the entry per
gateway base URL, so a hot packument costs one dict lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import msgspec

from pkgate.edge.client import UpstreamClient
from pkgate.edge.singleflight import SingleFlight
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["ABBREVIATED", "FULL", "Doc", "DocCache", "Fetched", "Rendered"]

#: What npm asks a registry for: the full packument, or the abbreviated one (`npm install` of
#: pnpm and yarn; npm 10/11 ask for full ones). These are also the cache's keys.
FULL: Final = "application/json"
ABBREVIATED: Final = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
#: Estimated bytes held per byte of upstream JSON (parsed dicts plus a few rewritten bodies).
ENTRY_OVERHEAD: Final = 8
MAX_MISSING: Final = 10_000
#: Rewritten bodies kept per entry (one per gateway base URL that asked: normally one or two).
MAX_RENDERED: Final = 4

_decoder: Final = msgspec.json.Decoder()


class Rendered(NamedTuple):
    body: bytes
    etag: str  # strong, over `body`


@dataclass
class Doc:
    """One upstream JSON document, parsed (key order and value types as the upstream sent them)."""

    data: dict[str, Any]
    content_type: str
    fetched: float  # monotonic time of the last fetch or revalidation
    etag: str | None
    last_modified: str | None
    size: int = 0
    rendered: dict[str, Rendered] = field(default_factory=dict)

    def body(self, key: str, render: Callable[[dict[str, Any]], Rendered]) -> Rendered:
        hit = self.rendered.get(key)
        if hit is None:
            hit = render(self.data)
            if len(self.rendered) >= MAX_RENDERED:
                self.rendered.clear()
            self.rendered[key] = hit
        return hit


class Fetched(NamedTuple):
    doc: Doc
    state: str  # "hit", "miss", "revalidated", "stale"
    latency: float | None


def parse(body: bytes) -> dict[str, Any]:
    """A registry document: a JSON object, or UpstreamError."""
    try:
        data = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UpstreamError("not a JSON object")
    return data


class DocCache:
    """Documents of one npm upstream, keyed by (upstream path, Accept)."""

    def __init__(
        self,
        client: UpstreamClient,
        ttl: float,
        stale_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        cache_bytes: int = 256 << 20,
    ) -> None:
        self.client = client
        self.name = client.name
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.clock = clock
        self.cache_bytes = cache_bytes
        self._held = 0
        self._docs: dict[tuple[str, str], Doc] = {}
        self._missing: dict[tuple[str, str], float] = {}
        self._flights: SingleFlight[tuple[str, str], Fetched] = SingleFlight()

    @property
    def held_bytes(self) -> int:
        return self._held

    def stale(self, path: str, accept: str) -> Fetched | None:
        doc = self._docs.get((path, accept))
        if doc is not None and self.clock() - doc.fetched < self.stale_ttl:
            return Fetched(doc, "stale", None)
        return None

    async def get(self, path: str, accept: str) -> Fetched:
        """The document at `path` (relative to the upstream's URL, already percent-encoded);
        raises UpstreamNotFound or UpstreamError."""
        key = (path, accept)
        doc = self._docs.get(key)
        now = self.clock()
        if doc is not None and now - doc.fetched < self.ttl:
            return Fetched(doc, "hit", None)
        missed = self._missing.get(key)
        if missed is not None and now - missed < self.ttl:
            raise UpstreamNotFound(f"{self.name}: no package at {path!r}")
        return await self._flights.run(key, lambda: self._fetch(key, doc))

    async def _fetch(self, key: tuple[str, str], doc: Doc | None) -> Fetched:
        path, accept = key
        url = self.client.base_url + path
        if doc is None:
            got = await self.client.get(url, accept=accept)
        else:
            got = await self.client.get(url, doc.etag, doc.last_modified, accept=accept)
        if got.status == 304 and doc is not None:
            doc.fetched = self.clock()
            return Fetched(doc, "revalidated", got.latency)
        if got.status in (304, 404):  # a 304 to a request without validators is a broken upstream
            if got.status == 304:
                self.client.failed()
                raise UpstreamError(f"{self.name}: 304 without validators for {path!r}")
            if len(self._missing) >= MAX_MISSING:
                del self._missing[next(iter(self._missing))]
            self._missing[key] = self.clock()
            self._forget(key)
            raise UpstreamNotFound(f"{self.name}: no package at {path!r}")
        try:
            data = parse(got.body)
        except UpstreamError as exc:
            self.client.failed()
            raise UpstreamError(f"{self.name}: bad document at {path!r}: {exc}") from None
        self.client.breaker.success()
        ctype = got.content_type if "json" in got.content_type.lower() else "application/json"
        new = Doc(
            data, ctype, self.clock(), got.etag, got.last_modified, ENTRY_OVERHEAD * len(got.body) + 1024
        )
        self._forget(key)
        while self._docs and self._held + new.size > self.cache_bytes:
            self._forget(next(iter(self._docs)))
        self._docs[key] = new
        self._held += new.size
        self._missing.pop(key, None)
        return Fetched(new, "miss", got.latency)

    def _forget(self, key: tuple[str, str]) -> None:
        old = self._docs.pop(key, None)
        if old is not None:
            self._held -= old.size
