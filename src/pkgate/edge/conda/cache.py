"""One conda upstream's documents (repodata, shard indexes, shards, channeldata) as raw bytes.

The same contract as the Python page cache (`pkgate.edge.upstream`): fresh for `ttl`, then
revalidated with the upstream's `ETag`/`Last-Modified`; a 404 remembered for `ttl`; the last good
copy served for `stale_ttl` when every upstream of the route fails (`failover.first_of`);
concurrent misses share one fetch; oldest entries evicted past `cache_bytes`. What the ecosystem
derives from a document (its parsed form, a filtered copy, its ETag) is memoised on the entry,
so a hot document costs a dict lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from pkgate.edge.client import UpstreamClient
from pkgate.edge.singleflight import SingleFlight
from pkgate.errors import UpstreamNotFound

__all__ = ["Doc", "DocCache", "Got"]

MAX_MISSING: Final = 10_000


@dataclass(eq=False)
class Doc:
    """An upstream document: its bytes, validators and what has been derived from it."""

    url: str  # after redirects
    body: bytes
    fetched: float  # monotonic time of the last fetch or revalidation
    etag: str | None
    last_modified: str | None
    derived: dict[str, object] = field(default_factory=dict)


@dataclass
class Got:
    doc: Doc
    state: str  # "hit", "miss", "revalidated", "stale"
    latency: float | None


class DocCache:
    """Documents of one upstream, by URL."""

    def __init__(
        self,
        client: UpstreamClient,
        ttl: float,
        stale_ttl: float,
        cache_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.cache_bytes = cache_bytes
        self.clock = clock
        self._docs: dict[str, Doc] = {}
        self._held = 0
        self._missing: dict[str, float] = {}
        self._flights: SingleFlight[str, Got] = SingleFlight()

    def stale(self, url: str) -> Got | None:
        doc = self._docs.get(url)
        if doc is not None and self.clock() - doc.fetched < self.stale_ttl:
            return Got(doc, "stale", None)
        return None

    async def get(self, url: str) -> Got:
        """The document at `url`; raises UpstreamNotFound (404) or UpstreamError."""
        now = self.clock()
        doc = self._docs.get(url)
        if doc is not None and now - doc.fetched < self.ttl:
            return Got(doc, "hit", None)
        missed = self._missing.get(url)
        if missed is not None and now - missed < self.ttl:
            raise UpstreamNotFound(f"{self.client.name}: {_shown(url, self.client.base_url)} not found")
        return await self._flights.run(url, lambda: self._fetch(url, doc))

    async def _fetch(self, url: str, doc: Doc | None) -> Got:
        client = self.client
        if doc is None:
            got = await client.get(url)
        else:
            got = await client.get(url, doc.etag, doc.last_modified)
        if got.status == 304 and doc is not None:
            doc.fetched = self.clock()
            return Got(doc, "revalidated", got.latency)
        if got.status != 200:  # 404 (or a 304 nobody asked for)
            if len(self._missing) >= MAX_MISSING:
                del self._missing[next(iter(self._missing))]
            self._missing[url] = self.clock()
            self._forget(url)
            raise UpstreamNotFound(f"{client.name}: {_shown(url, client.base_url)} not found")
        client.breaker.success()
        new = Doc(got.url, got.body, self.clock(), got.etag, got.last_modified)
        self._forget(url)
        size = len(new.body) + 512
        while self._docs and self._held + size > self.cache_bytes:
            self._forget(next(iter(self._docs)))
        self._docs[url] = new
        self._held += size
        self._missing.pop(url, None)
        return Got(new, "miss", got.latency)

    def _forget(self, url: str) -> None:
        old = self._docs.pop(url, None)
        if old is not None:
            self._held -= len(old.body) + 512


def _shown(url: str, base: str) -> str:
    """A URL as a message to clients shows it: relative to the upstream (its host stays private)."""
    return url[len(base) :] if url.startswith(base) else "a document"
