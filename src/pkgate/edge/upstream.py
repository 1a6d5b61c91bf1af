"""Upstream index pages: Python's use of the generic document cache (`edge/doccache.py`).

One `PageCache` per upstream, fetching through its `client.UpstreamClient` (credentials, timeout,
circuit breaker, bounded bodies): project pages by name and the index root, each parsed
(`edge/pageparse.py`) into an `Entry`. A fresh entry is served from memory; an expired one is
revalidated with the upstream's validators. When the upstream fails the fetch raises, and the
caller (`failover.py`) first asks the other upstreams of the route and only then falls back to
`stale_project()`/`stale_root()`: the last good page, up to `stale_ttl`. A 404 for the index root
is an error, not a missing project. Rendered bodies are memoised per content type on the entry,
so a hot page costs one dict lookup.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from pkgate.edge import doccache
from pkgate.edge.client import Got, UpstreamClient
from pkgate.edge.doccache import DocumentCache
from pkgate.edge.pageparse import parse_project, parse_root
from pkgate.edge.pages import ProjectPage, RootPage

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
MAX_MISSING = doccache.MAX_MISSING
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


#: What `project()` and `root()` answer: an entry and how it was got.
Fetched = doccache.Fetched[Entry[P]]


class _Pages(DocumentCache[str, Entry[ProjectPage]]):
    """Project pages by normalised name."""

    def request(self, key: str) -> tuple[str, str | None]:
        return self.client.base_url + key + "/", None

    def build(self, key: str, got: Got) -> Entry[ProjectPage]:
        page = parse_project(got.body, got.content_type, got.url, key)
        return Entry(page, 0.0, got.etag, got.last_modified, size=ENTRY_OVERHEAD * len(got.body) + 1024)

    def not_found(self, key: str) -> str:
        return f"no project {key!r}"

    def bad(self, key: str) -> str:
        return f"bad page for {key!r}"


class _Root(DocumentCache[None, Entry[RootPage]]):
    """The index root: one entry, outside the byte bound; a 404 there is a broken upstream."""

    remembers_missing = False

    def request(self, key: None) -> tuple[str, str | None]:
        return self.client.base_url, None

    def build(self, key: None, got: Got) -> Entry[RootPage]:
        return Entry(parse_root(got.body, got.content_type), 0.0, got.etag, got.last_modified)

    def not_found(self, key: None) -> str:
        return "the index root answered 404"

    def bad(self, key: None) -> str:
        return "bad index root"


class PageCache:
    """Pages of one upstream index: its projects and its root, each a `DocumentCache`."""

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
        self._pages = _Pages(client, ttl, stale_ttl, clock, cache_bytes=cache_bytes, max_missing=MAX_MISSING)
        self._index_root = _Root(client, ttl, stale_ttl, clock)

    # Settings are the pages' (a config reload sets them); the root follows them.
    @property
    def ttl(self) -> float:
        return self._pages.ttl

    @ttl.setter
    def ttl(self, value: float) -> None:
        self._pages.ttl = self._index_root.ttl = value

    @property
    def stale_ttl(self) -> float:
        return self._pages.stale_ttl

    @stale_ttl.setter
    def stale_ttl(self, value: float) -> None:
        self._pages.stale_ttl = self._index_root.stale_ttl = value

    @property
    def cache_bytes(self) -> int:
        return self._pages.cache_bytes

    @cache_bytes.setter
    def cache_bytes(self, value: int) -> None:
        self._pages.cache_bytes = value

    @property
    def held_bytes(self) -> int:
        return self._pages.held_bytes

    @property
    def _projects(self) -> dict[str, Entry[ProjectPage]]:
        return self._pages._docs

    @property
    def _missing(self) -> dict[str, float]:
        return self._pages._missing

    async def project(self, name: str) -> Fetched[ProjectPage]:
        """The page of a normalised project name; raises UpstreamNotFound or UpstreamError."""
        return await self._pages.fetch(name)

    def stale_project(self, name: str) -> Fetched[ProjectPage] | None:
        """The last good page of a project if it is younger than `stale_ttl` (the last resort)."""
        return self._pages.last_good(name)

    async def root(self) -> Fetched[RootPage]:
        return await self._index_root.fetch(None)

    def stale_root(self) -> Fetched[RootPage] | None:
        return self._index_root.last_good(None)
