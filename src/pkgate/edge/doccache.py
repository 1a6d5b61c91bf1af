"""One upstream's documents in memory: TTL, revalidation, stale copies, a negative cache, a byte bound.

The logic every ecosystem's cache shares (Python's pages, npm's packuments, conda's channel
documents), written once. A subclass says how a key becomes a request (`request`: URL and
`Accept`), how an answer becomes an entry (`build`: parse, or raise UpstreamError for a bad body,
which counts as a failure of the upstream) and what the messages say. The cache does the rest:

- a fresh entry (younger than `ttl`) is a hit; an older one is revalidated with its validators
  (`If-None-Match` / `If-Modified-Since`), a 304 keeps it and restarts its clock;
- a 404 is remembered for `ttl` in a negative cache of at most `max_missing` keys (oldest out);
- concurrent misses for one key share one upstream request (`SingleFlight`);
- entries are held up to `cache_bytes` (their `size` estimates), oldest evicted first, so a client
  walking every name cannot grow memory without limit; an evicted entry is simply fetched again;
- `last_good` is the last entry younger than `stale_ttl`: the caller's last resort
  (`failover.first_of`) once every upstream of the route failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Final, Generic, Protocol, TypeVar

from pkgate.edge.client import Got, UpstreamClient
from pkgate.edge.singleflight import SingleFlight
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["MAX_MISSING", "DocumentCache", "Fetched", "Held"]

#: Negative-cache entries kept per cache (keys that answered 404).
MAX_MISSING: Final = 10_000


class Held(Protocol):
    """What the cache needs of an entry: when it was got, its validators and its size."""

    fetched: float  # monotonic time of the last successful fetch or revalidation
    etag: str | None
    last_modified: str | None
    size: int  # estimated bytes held


K = TypeVar("K")
E = TypeVar("E", bound=Held)


@dataclass
class Fetched(Generic[E]):
    entry: E
    state: str  # "hit", "miss", "revalidated", "stale"
    latency: float | None  # seconds spent on the upstream, None on a hit

    @property
    def doc(self) -> E:
        """The entry, by the name npm's and conda's callers use."""
        return self.entry


class DocumentCache(Generic[K, E]):
    """Documents of one upstream by key; subclasses fill in the hooks below."""

    #: A 404 is remembered and raised as UpstreamNotFound; False: it is an UpstreamError (a
    #: document that must exist, like an index root), not remembered.
    remembers_missing: ClassVar[bool] = True

    def __init__(
        self,
        client: UpstreamClient,
        ttl: float,
        stale_ttl: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        cache_bytes: int = 256 << 20,
        max_missing: int = MAX_MISSING,
    ) -> None:
        self.client = client
        self.name = client.name
        self.ttl = ttl
        self.stale_ttl = stale_ttl
        self.clock = clock
        self.cache_bytes = cache_bytes
        self.max_missing = max_missing
        self._held = 0
        self._docs: dict[K, E] = {}  # insertion order is age: eviction takes the first
        self._missing: dict[K, float] = {}  # key -> when it answered 404
        self._flights: SingleFlight[K, Fetched[E]] = SingleFlight()

    # -- hooks ------------------------------------------------------------------------------------

    def request(self, key: K) -> tuple[str, str | None]:
        """The URL of a key and the `Accept` to ask with (None: the client's own)."""
        raise NotImplementedError

    def build(self, key: K, got: Got) -> E:
        """The entry for a 200 (its `fetched` is stamped by the cache); UpstreamError if bad."""
        raise NotImplementedError

    def not_found(self, key: K) -> str:
        """The message for a 404, after the upstream's name."""
        raise NotImplementedError

    def bad(self, key: K) -> str:
        """The message for a body `build` rejected, before its reason."""
        return "bad document"

    def unasked_304(self, key: K) -> bool:
        """A 304 to a request sent without validators: True to take it as a 404; may raise.

        By default it goes to `build` like a 200 with an empty body.
        """
        return False

    # -- the cache --------------------------------------------------------------------------------

    @property
    def held_bytes(self) -> int:
        return self._held

    def last_good(self, key: K) -> Fetched[E] | None:
        """The last good entry if it is younger than `stale_ttl` (the last resort)."""
        entry = self._docs.get(key)
        if entry is not None and self.clock() - entry.fetched < self.stale_ttl:
            return Fetched(entry, "stale", None)
        return None

    async def fetch(self, key: K) -> Fetched[E]:
        """The entry of `key`; raises UpstreamNotFound or UpstreamError."""
        entry = self._docs.get(key)
        now = self.clock()
        if entry is not None and now - entry.fetched < self.ttl:
            return Fetched(entry, "hit", None)
        missed = self._missing.get(key)
        if missed is not None and now - missed < self.ttl:
            raise UpstreamNotFound(f"{self.name}: {self.not_found(key)}")
        return await self._flights.run(key, lambda: self._fetch(key, entry))

    async def _fetch(self, key: K, entry: E | None) -> Fetched[E]:
        url, accept = self.request(key)
        if entry is None:
            got = await self.client.get(url, accept=accept)
        else:
            got = await self.client.get(url, entry.etag, entry.last_modified, accept=accept)
        if got.status == 304 and entry is not None:
            entry.fetched = self.clock()
            return Fetched(entry, "revalidated", got.latency)
        if got.status == 404 or (got.status == 304 and self.unasked_304(key)):
            if not self.remembers_missing:
                raise UpstreamError(f"{self.name}: {self.not_found(key)}")
            if len(self._missing) >= self.max_missing:
                del self._missing[next(iter(self._missing))]
            self._missing[key] = self.clock()
            self._forget(key)
            raise UpstreamNotFound(f"{self.name}: {self.not_found(key)}")
        try:
            new = self.build(key, got)
        except UpstreamError as exc:
            self.client.failed()
            raise UpstreamError(f"{self.name}: {self.bad(key)}: {exc}") from None
        self.client.breaker.success()
        new.fetched = self.clock()
        self._forget(key)
        while self._docs and self._held + new.size > self.cache_bytes:
            self._forget(next(iter(self._docs)))
        self._docs[key] = new
        self._held += new.size
        self._missing.pop(key, None)
        return Fetched(new, "miss", got.latency)

    def _forget(self, key: K) -> None:
        old = self._docs.pop(key, None)
        if old is not None:
            self._held -= old.size
