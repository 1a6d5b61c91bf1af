"""The generic document cache (`edge/doccache.py`) against a real HTTP upstream on loopback.

The upstream serves a dict of documents with strong ETags (304 when `If-None-Match` matches, 404
for unknown paths, 500 when told to fail) and records every request, so each state the cache
reports (hit, miss, revalidated, stale) is checked against what actually went over the wire. Time
is the cache's injected clock, moved by hand.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from pkgate.edge.client import Got, UpstreamClient
from pkgate.edge.doccache import DocumentCache
from pkgate.errors import UpstreamError, UpstreamNotFound

TTL = 10.0
STALE_TTL = 100.0


class Upstream:
    """Documents by path; `requests` holds (path, If-None-Match, Accept) of each request."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None, str | None]] = []
        self.failing = False
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.requests.append((self.path, self.headers["if-none-match"], self.headers["accept"]))
                body = upstream.docs.get(self.path)
                if upstream.failing:
                    self.send_response(500)
                elif body is None:
                    self.send_response(404)
                else:
                    etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                    if self.headers["if-none-match"] == etag:
                        self.send_response(304)
                        self.send_header("etag", etag)
                    else:
                        self.send_response(200)
                        self.send_header("etag", etag)
                        self.send_header("content-type", "text/plain")
                        self.send_header("content-length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        return
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Text:
    text: str
    fetched: float
    etag: str | None
    last_modified: str | None
    size: int


class Texts(DocumentCache[str, Text]):
    """A minimal user: a key is a path, an entry its text, its size its length in bytes."""

    def request(self, key: str) -> tuple[str, str | None]:
        return self.client.base_url + key, "text/plain"

    def build(self, key: str, got: Got) -> Text:
        if got.body.startswith(b"bad"):
            raise UpstreamError("starts with 'bad'")
        return Text(got.body.decode(), 0.0, got.etag, got.last_modified, len(got.body))

    def not_found(self, key: str) -> str:
        return f"no {key}"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    u = Upstream()
    yield u
    u.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def texts(upstream: Upstream, http: httpx.AsyncClient, clock: Clock, **kw: int) -> Texts:
    client = UpstreamClient("up", upstream.url, http, accept="*/*", max_bytes=1 << 20)
    return Texts(client, TTL, STALE_TTL, clock, **kw)


async def test_miss_hit_revalidated_then_changed(upstream: Upstream, http: httpx.AsyncClient) -> None:
    upstream.docs["/a"] = b"one"
    clock = Clock()
    cache = texts(upstream, http, clock)
    first = await cache.fetch("a")
    assert (first.state, first.entry.text, first.entry.fetched) == ("miss", "one", 1000.0)
    assert first.latency is not None
    assert upstream.requests == [("/a", None, "text/plain")]  # the hook's Accept, no validators
    clock.now += TTL - 1
    hit = await cache.fetch("a")
    assert (hit.state, hit.entry, hit.latency) == ("hit", first.entry, None)
    assert len(upstream.requests) == 1
    clock.now += 2  # past the TTL: revalidated with the entry's ETag, 304 keeps it
    again = await cache.fetch("a")
    assert again.state == "revalidated"
    assert again.entry is first.entry
    assert upstream.requests[-1] == ("/a", first.entry.etag, "text/plain")
    assert first.entry.fetched == 1011.0  # its clock restarted
    assert (await cache.fetch("a")).state == "hit"
    upstream.docs["/a"] = b"two"
    clock.now += TTL
    changed = await cache.fetch("a")
    assert (changed.state, changed.entry.text) == ("miss", "two")
    assert changed.entry.etag != first.entry.etag
    assert len(upstream.requests) == 3


async def test_stale_copy_when_the_upstream_fails(upstream: Upstream, http: httpx.AsyncClient) -> None:
    upstream.docs["/a"] = b"one"
    clock = Clock()
    cache = texts(upstream, http, clock)
    assert cache.last_good("a") is None  # nothing held yet
    entry = (await cache.fetch("a")).entry
    upstream.failing = True
    clock.now += TTL + 1
    with pytest.raises(UpstreamError, match="HTTP 500"):
        await cache.fetch("a")
    stale = cache.last_good("a")
    assert stale is not None
    assert (stale.state, stale.entry, stale.latency) == ("stale", entry, None)
    clock.now = 1000.0 + STALE_TTL  # as old as stale_ttl: too old
    assert cache.last_good("a") is None


async def test_negative_cache_remembers_and_is_bounded(upstream: Upstream, http: httpx.AsyncClient) -> None:
    clock = Clock()
    cache = texts(upstream, http, clock, max_missing=2)
    for key in ("x", "y", "z"):
        with pytest.raises(UpstreamNotFound, match=f"^up: no {key}$"):
            await cache.fetch(key)
    assert len(upstream.requests) == 3
    with pytest.raises(UpstreamNotFound):
        await cache.fetch("z")  # remembered: no request
    assert len(upstream.requests) == 3
    with pytest.raises(UpstreamNotFound):
        await cache.fetch("x")  # pushed out of the bound of 2: asked again
    assert len(upstream.requests) == 4  # remembered again, pushing "y" out: "z" and "x" held
    upstream.docs["/z"] = b"now here"
    with pytest.raises(UpstreamNotFound):
        await cache.fetch("z")  # still remembered within the TTL
    assert len(upstream.requests) == 4
    clock.now += TTL
    assert (await cache.fetch("z")).entry.text == "now here"


async def test_byte_bound_evicts_oldest(upstream: Upstream, http: httpx.AsyncClient) -> None:
    for key in "abc":
        upstream.docs["/" + key] = key.encode() * 100  # 100 bytes each
    cache = texts(upstream, http, Clock(), cache_bytes=250)
    for key in "abc":
        assert (await cache.fetch(key)).state == "miss"
    assert cache.held_bytes == 200  # "a" went to make room for "c"
    assert (await cache.fetch("b")).state == "hit"
    assert (await cache.fetch("c")).state == "hit"
    assert cache.last_good("a") is None
    assert (await cache.fetch("a")).state == "miss"  # fetched again; now "b" is the oldest
    assert cache.held_bytes == 200
    assert (await cache.fetch("c")).state == "hit"
    assert (await cache.fetch("b")).state == "miss"


async def test_concurrent_misses_share_one_request(upstream: Upstream, http: httpx.AsyncClient) -> None:
    upstream.docs["/a"] = b"one"
    cache = texts(upstream, http, Clock())
    got = await asyncio.gather(*(cache.fetch("a") for _ in range(5)))
    assert len(upstream.requests) == 1
    assert all(g.entry is got[0].entry and g.state == "miss" for g in got)


async def test_bad_body_is_an_upstream_failure(upstream: Upstream, http: httpx.AsyncClient) -> None:
    upstream.docs["/a"] = b"bad body"
    cache = texts(upstream, http, Clock())
    with pytest.raises(UpstreamError, match=r"^up: bad document: starts with 'bad'$"):
        await cache.fetch("a")
    assert cache.client.failures == 1
    assert cache.held_bytes == 0
    assert cache.last_good("a") is None
