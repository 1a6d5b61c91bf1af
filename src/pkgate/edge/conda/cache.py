"""One conda upstream's documents (repodata, shard indexes, shards, channeldata) as raw bytes.

Conda's use of the generic document cache (`edge/doccache.py`), as Python's and npm's: fresh
for `ttl`, then revalidated with the upstream's `ETag`/`Last-Modified`; a 404 (or a 304 nobody
asked for) remembered for `ttl`; the last good copy served for `stale_ttl` when every upstream of
the route fails (`failover.first_of`); concurrent misses share one fetch; oldest entries evicted
past `cache_bytes`. What the ecosystem
derives from a document (its parsed form, a filtered copy, its ETag) is memoised on the entry,
so a hot document costs a dict lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pkgate.edge import doccache
from pkgate.edge.client import Got as Answer
from pkgate.edge.client import UpstreamClient
from pkgate.edge.doccache import DocumentCache

__all__ = ["Doc", "DocCache", "Got"]


@dataclass(eq=False)
class Doc:
    """An upstream document: its bytes, validators and what has been derived from it."""

    url: str  # after redirects
    body: bytes
    fetched: float  # monotonic time of the last fetch or revalidation
    etag: str | None
    last_modified: str | None
    derived: dict[str, object] = field(default_factory=dict)
    size: int = 0  # bytes held: the body plus a little


#: What `get()` and `stale()` answer: a document and how it was got.
Got = doccache.Fetched[Doc]


class DocCache(DocumentCache[str, Doc]):
    """Documents of one upstream, by URL."""

    def __init__(
        self,
        client: UpstreamClient,
        ttl: float,
        stale_ttl: float,
        cache_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(client, ttl, stale_ttl, clock, cache_bytes=cache_bytes)

    def request(self, key: str) -> tuple[str, str | None]:
        return key, None

    def build(self, key: str, got: Answer) -> Doc:
        return Doc(got.url, got.body, 0.0, got.etag, got.last_modified, size=len(got.body) + 512)

    def not_found(self, key: str) -> str:
        return f"{_shown(key, self.client.base_url)} not found"

    def unasked_304(self, key: str) -> bool:
        """A 304 nobody asked for is taken as a 404."""
        return True

    async def get(self, url: str) -> Got:
        """The document at `url`; raises UpstreamNotFound (404) or UpstreamError."""
        return await self.fetch(url)

    def stale(self, url: str) -> Got | None:
        return self.last_good(url)


def _shown(url: str, base: str) -> str:
    """A URL as a message to clients shows it: relative to the upstream (its host stays private)."""
    return url[len(base) :] if url.startswith(base) else "a document"
