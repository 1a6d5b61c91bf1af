"""Upstream index pages: async fetch with pooling, a short-TTL memory cache, single-flight, a
circuit breaker and stale copies.

One `PageCache` per upstream. A fresh entry is served from memory; an expired one is revalidated
with the upstream's validators (`If-None-Match` / `If-Modified-Since`). When the upstream fails the
fetch raises, and the caller (`failover.py`) first asks the other upstreams of the route and only
then falls back to `stale_project()`/`stale_root()`: the last good page, up to `stale_ttl`.
Concurrent misses for the same page share one upstream request. Rendered bodies are memoised per
content type on the entry, so a hot page costs one dict lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx

from pkgate.edge.breaker import Breaker
from pkgate.edge.pages import ProjectPage, RootPage, parse_project, parse_root
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
#: Estimated bytes held per byte of upstream page: parsed objects plus rendered variants.
ENTRY_OVERHEAD = 4


@dataclass
class Entry(Generic[P]):
    page: P
    fetched: float  # monotonic time of the last successful fetch or revalidation
    etag: str | None
    last_modified: str | None
    rendered: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # ctype -> (body, etag)
    size: int = 0  # estimated bytes held: parsed page plus up to three rendered bodies

    def body(self, ctype: str, render: Callable[[P], bytes]) -> tuple[bytes, str]:
        hit = self.rendered.get(ctype)
        if hit is None:
            body = render(self.page)
            hit = (body, '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"')
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
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        ttl: float,
        stale_ttl: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        breaker: Breaker | None = None,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
        accept: str = UPSTREAM_ACCEPT,
        cache_bytes: int = 256 << 20,
    ) -> None:
        self.name = name
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.client = client
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.max_bytes = max_bytes
        self.clock = clock
        self.breaker = breaker or Breaker(clock=clock)
        self.timeout = timeout
        self.headers = dict(headers or {})  # credentials live here, never in a URL or a message
        self.accept = accept
        # Bounded: a client walking every project name must not grow memory without limit. Eviction
        # is oldest-first (insertion order); a hot page is simply fetched again after eviction.
        self.cache_bytes = cache_bytes
        self._held = 0
        self._projects: dict[str, Entry[ProjectPage]] = {}
        self._missing: dict[str, float] = {}  # negative cache: project -> fetched, at most MAX_MISSING
        self._root: Entry[RootPage] | None = None
        self._inflight: dict[str, asyncio.Future[Fetched[ProjectPage]]] = {}
        self._root_inflight: asyncio.Future[Fetched[RootPage]] | None = None
        self.failures = 0
        self.requests = 0

    def stale_project(self, name: str) -> Fetched[ProjectPage] | None:
        """The last good page of a project if it is younger than `stale_ttl` (the last resort)."""
        entry = self._projects.get(name)
        if entry is not None and self.clock() - entry.fetched < self.stale_ttl:
            return Fetched(entry, "stale", None)
        return None

    def stale_root(self) -> Fetched[RootPage] | None:
        entry = self._root
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
        fut = self._inflight.get(name)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[name] = fut
        try:
            result = await self._fetch_project(name, entry)
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: waiters may be none
            raise
        finally:
            del self._inflight[name]

    async def _fetch_project(self, name: str, entry: Entry[ProjectPage] | None) -> Fetched[ProjectPage]:
        url = self.base_url + name + "/"
        status, body, ctype, etag, modified, latency, final = await self._get(url, entry)
        if status == 304 and entry is not None:
            entry.fetched = self.clock()
            return Fetched(entry, "revalidated", latency)
        if status == 404:
            if len(self._missing) >= MAX_MISSING:
                del self._missing[next(iter(self._missing))]
            self._missing[name] = self.clock()
            self._forget(name)
            raise UpstreamNotFound(f"{self.name}: no project {name!r}")
        try:
            page = parse_project(body, ctype, final, name)
        except PageError as exc:
            self.failures += 1
            self.breaker.failure()
            raise UpstreamError(f"{self.name}: bad page for {name!r}: {exc}") from None
        self.breaker.success()
        new = Entry(page, self.clock(), etag, modified, size=ENTRY_OVERHEAD * len(body) + 1024)
        self._forget(name)
        while self._projects and self._held + new.size > self.cache_bytes:
            self._forget(next(iter(self._projects)))
        self._projects[name] = new
        self._held += new.size
        self._missing.pop(name, None)
        return Fetched(new, "miss", latency)

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
        if self._root_inflight is not None:
            return await asyncio.shield(self._root_inflight)
        fut: asyncio.Future[Fetched[RootPage]] = asyncio.get_running_loop().create_future()
        self._root_inflight = fut
        try:
            result = await self._fetch_root(entry)
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            self._root_inflight = None

    async def _fetch_root(self, entry: Entry[RootPage] | None) -> Fetched[RootPage]:
        status, body, ctype, etag, modified, latency, _ = await self._get(self.base_url, entry)
        if status == 304 and entry is not None:
            entry.fetched = self.clock()
            return Fetched(entry, "revalidated", latency)
        if status == 404:
            raise UpstreamError(f"{self.name}: the index root answered 404")
        try:
            page = parse_root(body, ctype)
        except PageError as exc:
            self.failures += 1
            self.breaker.failure()
            raise UpstreamError(f"{self.name}: bad index root: {exc}") from None
        self.breaker.success()
        self._root = Entry(page, self.clock(), etag, modified)
        return Fetched(self._root, "miss", latency)

    async def _get(
        self, url: str, entry: Entry[ProjectPage] | Entry[RootPage] | None
    ) -> tuple[int, bytes, str, str | None, str | None, float, str]:
        if not self.breaker.allow():
            raise UpstreamError(f"{self.name}: circuit open after repeated failures")
        headers = {**self.headers, "Accept": self.accept}
        if entry is not None:
            if entry.etag:
                headers["If-None-Match"] = entry.etag
            if entry.last_modified:
                headers["If-Modified-Since"] = entry.last_modified
        self.requests += 1
        started = time.perf_counter()
        verdict = False
        try:
            async with self.client.stream("GET", url, headers=headers, timeout=self.timeout) as resp:
                if resp.status_code in (304, 404):
                    body = b""
                elif resp.status_code != 200:
                    raise UpstreamError(f"{self.name}: {url} answered HTTP {resp.status_code}")
                else:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise UpstreamError(f"{self.name}: {url} is larger than {self.max_bytes} bytes")
                        chunks.append(chunk)
                    body = b"".join(chunks)
                latency = time.perf_counter() - started
                verdict = True
                if resp.status_code != 200:
                    self.breaker.success()  # 200s are judged once parsed
                return (
                    resp.status_code,
                    body,
                    resp.headers.get("content-type", ""),
                    resp.headers.get("etag"),
                    resp.headers.get("last-modified"),
                    latency,
                    str(resp.url),
                )
        except httpx.HTTPError as exc:
            self.failures += 1
            verdict = True
            self.breaker.failure()
            raise UpstreamError(f"{self.name}: {url}: {type(exc).__name__}: {exc}") from None
        except UpstreamError:
            self.failures += 1
            verdict = True
            self.breaker.failure()
            raise
        finally:
            if not verdict:
                self.breaker.abandon()
