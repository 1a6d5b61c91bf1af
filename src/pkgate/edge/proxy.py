"""Stream-through file answers for upstreams in `mode = "proxy"`.

Used where the client must not see what opens the file: the upstream's credentials (basic auth or
a bearer token) are added by `client.UpstreamClient.open`, and only for URLs on the upstream's own
origin (httpx drops them on a redirect to another origin too). The body is relayed chunk by chunk (`CHUNK` bytes at most in
flight per request), never buffered; `Range`/`If-Range` and validators are forwarded, so 206 and
304 answers work as they do against the upstream. Only a whitelist of response headers comes back:
no cookies, no `WWW-Authenticate`, nothing that tells the client how the upstream authenticates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import httpx

from pkgate.edge.answers import text
from pkgate.edge.ecosystem import Response
from pkgate.edge.failover import UpstreamHandle
from pkgate.edge.recorder import Headers

__all__ = ["CHUNK", "Job", "Stream", "fetch"]

CHUNK: Final = 64 * 1024
_REQUEST_HEADERS: Final = ("range", "if-range", "if-none-match", "if-modified-since")
_RESPONSE_HEADERS: Final = frozenset(
    {"content-type", "content-length", "content-range", "accept-ranges", "etag", "last-modified"}
    | {"cache-control", "content-encoding"}
)
_PASS_STATUS: Final = frozenset({200, 206, 304, 416})


@dataclass(frozen=True, slots=True)
class Job:
    """A verified file request for a proxied upstream."""

    upstream: UpstreamHandle[Any]
    url: str


class Stream:
    """An upstream body being relayed; iterate once, or `aclose()` to drop it unread."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_raw(CHUNK):
                if chunk:
                    yield chunk
        finally:
            await self._response.aclose()

    async def aclose(self) -> None:
        await self._response.aclose()


async def fetch(job: Job, method: str, headers: Headers) -> Response:
    """Ask the upstream for the file and answer with its status, safe headers and streamed body."""
    up = job.upstream
    out_headers = {"accept-encoding": "identity"}
    for key in _REQUEST_HEADERS:
        value = headers.get(key)
        if value is not None:
            out_headers[key] = value
    try:
        response = await up.client.open("HEAD" if method == "HEAD" else "GET", job.url, out_headers)
    except httpx.HTTPError as exc:
        return text(502, f"upstream error: {up.name}: {type(exc).__name__}")
    status = response.status_code
    if status not in _PASS_STATUS:
        await response.aclose()
        if status in (404, 410):
            return text(404, "not found upstream")
        return text(502, f"upstream error: {up.name} answered HTTP {status}")
    kept = [(k, v) for k, v in response.headers.items() if k.lower() in _RESPONSE_HEADERS]
    kept.append(("x-pkgate-upstream", up.name))
    if method == "HEAD" or status == 304:
        await response.aclose()
        return Response(status, kept, b"")
    return Response(status, kept, Stream(response))
