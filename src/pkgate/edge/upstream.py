"""Upstream index pages: a short-TTL memory cache with revalidation, single-flight and stale copies.

One `PageCache` per upstream, fetching through its `client.UpstreamClient` (credentials, timeout,
circuit breaker, bounded bodies). A fresh entry is served from memory; an expired one is revalidated
with the upstream's validators (`If-None-Match` / `If-Modified-Since`). When the upstream fails the
fetch raises, and the caller (`failover.py`) first asks the other upstreams of the route and only
then falls back to `stale_project()`/`stale_root()`: the last good page, up to `stale_ttl`.
Concurrent misses for the same page share one upstream request. Rendered bodies are memoised per
content type on the entry, so a hot page costs one dict lookup.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from pkgate.edge.client import Got, UpstreamClient
from pkgate.edge.pages import ProjectPage, RootPage, parse_project, parse_root
from pkgate.edge.singleflight import SingleFlight
from pkgate.errors import PageError, UpstreamError, UpstreamNotFound

P = TypeVar("P", ProjectPage, RootPage)

#: What we ask upstreams for: JSON first (cheaper to parse), HTML accepted.
UPSTREAM_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
)
#: `Accept` by `upstreams.<name>.kind`.
ACCEPT_BY_KIND = {
    "auto": UPSTREAM_ACCEPT,
    "json": "application/vnd.pypi.simple.v1+json",
    "html": "application/vnd.pypi.simple.v1+html, text/html;q=0.9",
}


#: Negative-cache entries kept per upstream (names that answered 404).
MAX_MISSING = 10_000
#: Estimated bytes held per byte of upstream page: parsed objects, the upstream's document (kept for
#: faithful output) and up to three rendered variants. Measured with tracemalloc on a 3000-file
#: page: HTML x3.8 parsed, x6.8 with two renders; JSON x2.2 and x4.6.
ENTRY_OVERHEAD = 8


class Rendered(NamedTuple):
    body: bytes
    etag: str  # strong, over `body`


@dataclass
class Entry(Generic[P]):
    page: P
    fetched: float  # monotonic time of the last successful fetch or revalidation
    etag: str | None
    last_modified: str | None
    rendered: dict[str, Rendered] = field(default_factory=dict)  # by content type
    size: int = 0  # estimated bytes held: parsed page plus up to three rendered bodies

    def body(self, ctype: str, render: Callable[[P], bytes]) -> Rendered:
        hit = self.rendered.get(ctype)
        if hit is None:
            body = render(self.page)
            hit = Rendered(body, '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"')
            self.rendered[ctype] = hit
        return hit


@dataclass
class Fetched(Generic[P]):
    entry: Entry[P]
    state: str  # "hit", "miss", "revalidated", "stale"
    latency: float | None  # seconds spent on the upstream, None on a hit


class PageCache:
    """Pages of one upstream index."""

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
        # Bounded: a client walking every project name must not grow memory without limit. Eviction
        # is oldest-first (insertion order); a hot page is simply fetched again after eviction.
        self.cache_bytes = cache_bytes
        self._held = 0
        self._projects: dict[str, Entry[ProjectPage]] = {}
        self._missing: dict[str, float] = {}  # negative cache: project -> fetched, at most MAX_MISSING
        self._root: Entry[RootPage] | None = None
        self._project_flights: SingleFlight[str, Fetched[ProjectPage]] = SingleFlight()
        self._root_flight: SingleFlight[None, Fetched[RootPage]] = SingleFlight()

    def stale_project(self, name: str) -> Fetched[ProjectPage] | None:
        """The last good page of a project if it is younger than `stale_ttl` (the last resort)."""
        return self._stale(self._projects.get(name))

    def stale_root(self) -> Fetched[RootPage] | None:
        return self._stale(self._root)

    def _stale(self, entry: Entry[P] | None) -> Fetched[P] | None:
        if entry is not None and self.clock() - entry.fetched < self.stale_ttl:
            return Fetched(entry, "stale", None)
        return None

    async def project(self, name: str) -> Fetched[ProjectPage]:
        """The page of a normalised project name; raises UpstreamNotFound or UpstreamError."""
        entry = self._projects.get(name)
        now = self.clock()
        if entry is not None and now - entry.fetched < self.ttl:
            return Fetched(entry, "hit", None)
        missed = self._missing.get(name)
        if missed is not None and now - missed < self.ttl:
            raise UpstreamNotFound(f"{self.name}: no project {name!r}")
        return await self._project_flights.run(name, lambda: self._fetch_project(name, entry))

    async def _fetch_project(self, name: str, entry: Entry[ProjectPage] | None) -> Fetched[ProjectPage]:
        got = await self._get(self.client.base_url + name + "/", entry)
        if got.status == 304 and entry is not None:
            entry.fetched = self.clock()
            return Fetched(entry, "revalidated", got.latency)
        if got.status == 404:
            if len(self._missing) >= MAX_MISSING:
                del self._missing[next(iter(self._missing))]
            self._missing[name] = self.clock()
            self._forget(name)
            raise UpstreamNotFound(f"{self.name}: no project {name!r}")
        try:
            page = parse_project(got.body, got.content_type, got.url, name)
        except PageError as exc:
            self.client.failed()
            raise UpstreamError(f"{self.name}: bad page for {name!r}: {exc}") from None
        self.client.breaker.success()
        new = Entry(
            page, self.clock(), got.etag, got.last_modified, size=ENTRY_OVERHEAD * len(got.body) + 1024
        )
        self._forget(name)
        while self._projects and self._held + new.size > self.cache_bytes:
            self._forget(next(iter(self._projects)))
        self._projects[name] = new
        self._held += new.size
        self._missing.pop(name, None)
        return Fetched(new, "miss", got.latency)

    def _forget(self, name: str) -> None:
        old = self._projects.pop(name, None)
        if old is not None:
            self._held -= old.size

    @property
    def held_bytes(self) -> int:
        return self._held

    async def root(self) -> Fetched[RootPage]:
        entry = self._root
        if entry is not None and self.clock() - entry.fetched < self.ttl:
            return Fetched(entry, "hit", None)
        return await self._root_flight.run(None, lambda: self._fetch_root(entry))

    async def _fetch_root(self, entry: Entry[RootPage] | None) -> Fetched[RootPage]:
        got = await self._get(self.client.base_url, entry)
        if got.status == 304 and entry is not None:
            entry.fetched = self.clock()
            return Fetched(entry, "revalidated", got.latency)
        if got.status == 404:
            raise UpstreamError(f"{self.name}: the index root answered 404")
        try:
            page = parse_root(got.body, got.content_type)
        except PageError as exc:
            self.client.failed()
            raise UpstreamError(f"{self.name}: bad index root: {exc}") from None
        self.client.breaker.success()
        self._root = Entry(page, self.clock(), got.etag, got.last_modified)
        return Fetched(self._root, "miss", got.latency)

    async def _get(self, url: str, entry: Entry[ProjectPage] | Entry[RootPage] | None) -> Got:
        if entry is None:
            return await self.client.get(url)
        return await self.client.get(url, entry.etag, entry.last_modified)
