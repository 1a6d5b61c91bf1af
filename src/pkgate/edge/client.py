"""One upstream's HTTP side: where it is, its credentials, timeout and circuit breaker.

Every ecosystem fetches through an `UpstreamClient`: documents with `get()` (validators sent, the
body bounded by `max_bytes`, the breaker consulted and told), proxied files with `open()`
(credentials only for URLs on the upstream's own origin). Credentials live in `headers`, never in a
URL or a message. The pooled `httpx.AsyncClient` is the worker's, shared by all upstreams.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx

from pkgate.edge.breaker import Breaker
from pkgate.errors import UpstreamError

__all__ = ["Got", "UpstreamClient", "auth_headers", "origin"]


def origin(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) lower-cased: credentials go only where the upstream itself lives."""
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def auth_headers(creds: tuple[str, str] | str | None) -> dict[str, str]:
    """`Authorization` for `config.credentials()`: a bearer token or a basic-auth pair."""
    if creds is None:
        return {}
    if isinstance(creds, str):
        return {"Authorization": f"Bearer {creds}"}
    pair = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode("ascii")
    return {"Authorization": f"Basic {pair}"}


class Got(NamedTuple):
    """An upstream's answer to a document GET (200, 304 or 404; anything else raised)."""

    status: int
    body: bytes  # empty unless 200
    content_type: str
    etag: str | None
    last_modified: str | None
    latency: float  # seconds
    url: str  # after redirects: relative links resolve against it


class UpstreamClient:
    """Bounded, breaker-guarded requests to one upstream."""

    def __init__(
        self,
        name: str,
        base_url: str,
        http: httpx.AsyncClient,
        *,
        accept: str,
        max_bytes: int,
        breaker: Breaker | None = None,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.http = http
        self.accept = accept
        self.max_bytes = max_bytes
        self.breaker = breaker or Breaker()
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.origin = origin(self.base_url)
        self.failures = 0
        self.requests = 0

    def failed(self) -> None:
        """A failure judged by the caller (e.g. a page that does not parse)."""
        self.failures += 1
        self.breaker.failure()

    async def get(
        self, url: str, etag: str | None = None, last_modified: str | None = None, accept: str | None = None
    ) -> Got:
        """GET a document with validators; raises UpstreamError for anything but 200/304/404.

        A 200 is left for the caller to judge (`breaker.success()` once parsed, or `failed()`).
        `accept` replaces the client's own `Accept` (npm asks for full or abbreviated packuments).
        """
        if not self.breaker.allow():
            raise UpstreamError(f"{self.name}: circuit open after repeated failures")
        headers = {**self.headers, "Accept": accept or self.accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        self.requests += 1
        started = time.perf_counter()
        verdict = False
        # httpx's timeout bounds each read, so an upstream that drips a byte now and then would hold
        # the request (and the client) for ever; the whole answer gets one deadline.
        deadline = self.timeout if self.timeout is not None else self.http.timeout.read
        try:
            async with (
                asyncio.timeout(deadline),
                self.http.stream("GET", url, headers=headers, timeout=self.timeout) as resp,
            ):
                if resp.status_code in (304, 404):
                    body = b""
                elif resp.status_code != 200:
                    raise UpstreamError(f"{self.name}: {url} answered HTTP {resp.status_code}")
                else:
                    body = await self._body(resp, url)
                latency = time.perf_counter() - started
                verdict = True
                if resp.status_code != 200:
                    self.breaker.success()  # 200s are judged once parsed
                return Got(
                    resp.status_code,
                    body,
                    resp.headers.get("content-type", ""),
                    resp.headers.get("etag"),
                    resp.headers.get("last-modified"),
                    latency,
                    str(resp.url),
                )
        except httpx.HTTPError as exc:
            verdict = True
            self.failed()
            raise UpstreamError(f"{self.name}: {url}: {type(exc).__name__}: {exc}") from None
        except UpstreamError:
            verdict = True
            self.failed()
            raise
        except TimeoutError:
            verdict = True
            self.failed()
            raise UpstreamError(f"{self.name}: {url}: no complete answer within {deadline}s") from None
        finally:
            if not verdict:
                self.breaker.abandon()

    async def _body(self, resp: httpx.Response, url: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise UpstreamError(f"{self.name}: {url} is larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def open(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        """Start a streamed request for a file (credentials added only on the upstream's origin);
        the caller must `aclose()` the response. Raises httpx.HTTPError."""
        out = dict(headers)
        if origin(url) == self.origin:
            out.update(self.headers)
        request = self.http.build_request(method, url, headers=out, timeout=self.timeout)
        return await self.http.send(request, stream=True)
