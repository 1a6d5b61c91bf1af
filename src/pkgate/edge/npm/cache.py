"""npm registry documents of one upstream: npm's use of the generic `edge/doccache.py`.

A packument (full or abbreviated, a separate entry each: the upstream answers them differently)
is kept parsed, as the upstream's own JSON object, for `cache_ttl`; then revalidated with the
upstream's validators. When the upstream fails, the caller (`failover.first_of`) asks the route's
other upstreams and then takes `stale()`: the last good copy, up to `stale_ttl`. Memory is bounded
by `cache_bytes` (oldest entries evicted first) and by a bounded negative cache; concurrent misses
for one document share one upstream request. Rewritten bodies are memoised on the entry per
gateway base URL, so a hot packument costs one dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import msgspec

from pkgate.edge import doccache
from pkgate.edge.client import Got
from pkgate.edge.doccache import DocumentCache
from pkgate.errors import UpstreamError

__all__ = ["ABBREVIATED", "FULL", "Doc", "DocCache", "Fetched", "Rendered"]

#: What npm asks a registry for: the full packument, or the abbreviated one (`npm install` of
#: pnpm and yarn; npm 10/11 ask for full ones). These are also the cache's keys.
FULL: Final = "application/json"
ABBREVIATED: Final = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
#: Estimated bytes held per byte of upstream JSON (parsed dicts plus a few rewritten bodies).
ENTRY_OVERHEAD: Final = 8
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


#: What `get()` and `stale()` answer: a document and how it was got (`.doc` is its entry).
Fetched = doccache.Fetched[Doc]


def parse(body: bytes) -> dict[str, Any]:
    """A registry document: a JSON object, or UpstreamError."""
    try:
        data = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UpstreamError("not a JSON object")
    return data


class DocCache(DocumentCache[tuple[str, str], Doc]):
    """Documents of one npm upstream, keyed by (upstream path, Accept)."""

    def request(self, key: tuple[str, str]) -> tuple[str, str | None]:
        path, accept = key
        return self.client.base_url + path, accept

    def build(self, key: tuple[str, str], got: Got) -> Doc:
        data = parse(got.body)
        ctype = got.content_type if "json" in got.content_type.lower() else "application/json"
        return Doc(data, ctype, 0.0, got.etag, got.last_modified, ENTRY_OVERHEAD * len(got.body) + 1024)

    def not_found(self, key: tuple[str, str]) -> str:
        return f"no package at {key[0]!r}"

    def bad(self, key: tuple[str, str]) -> str:
        return f"bad document at {key[0]!r}"

    def unasked_304(self, key: tuple[str, str]) -> bool:
        """A 304 to a request without validators is a broken upstream."""
        self.client.failed()
        raise UpstreamError(f"{self.name}: 304 without validators for {key[0]!r}")

    async def get(self, path: str, accept: str) -> Fetched:
        """The document at `path` (relative to the upstream's URL, already percent-encoded);
        raises UpstreamNotFound or UpstreamError."""
        return await self.fetch((path, accept))

    def stale(self, path: str, accept: str) -> Fetched | None:
        return self.last_good((path, accept))
