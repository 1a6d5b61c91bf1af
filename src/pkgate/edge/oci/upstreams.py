"""The OCI registries of one config, and how one is asked for something.

Each handle's state remembers the registry's bearer challenge (asked once with a `/v2/` ping, and
learnt again from any 401): a registry with one needs its clients to bring tokens, one without is
open, so its blob URLs can be handed to any client. Requests carry the client's token to a token
registry, else the configured credentials; manifests follow redirects, blobs do not (the gateway
hands the redirect to the client instead).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import httpx

from pkgate.config import Config
from pkgate.edge.failover import UpstreamHandle
from pkgate.edge.handles import build_handles as shared_build_handles
from pkgate.edge.metrics import Metrics
from pkgate.edge.oci.auth import ANONYMOUS, Challenge, parse_challenge
from pkgate.edge.singleflight import SingleFlight
from pkgate.errors import UpstreamError

__all__ = ["Handle", "Registry", "Reply", "base_url", "build_handles"]

#: Largest manifest, tag list or token answer relayed (registries refuse manifests over 4 MiB).
MAX_DOCUMENT: Final = 4 * 1024 * 1024
_RECHECK_S: Final = 300.0  # an open registry's ping is repeated this often


@dataclass(eq=False)
class Registry:
    """What the gateway knows of one registry's authentication."""

    challenge: Challenge | None = None
    checked: float = field(default=-1e18)  # monotonic time of the last ping; never: long ago
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: Concurrent first requests for one open-registry blob share one HEAD (by blob URL).
    heads: SingleFlight[str, Reply] = field(default_factory=SingleFlight)
    metrics: Metrics | None = None  # the worker's: requests, failures and latency per upstream


def _note(up: Handle, started: float | None) -> None:
    """Tell the metrics of a request: answered (latency since `started`), or failed (None)."""
    metrics = up.cache.metrics
    if metrics is not None:
        metrics.upstream(up.name, None if started is None else time.perf_counter() - started, started is None)


Handle = UpstreamHandle[Registry]


class Reply(NamedTuple):
    """A registry's answer, its body read (bounded) unless it was a stream kept open."""

    status: int
    headers: httpx.Headers
    body: bytes
    url: str


def base_url(url: str) -> str:
    """The registry root from a configured URL (`https://host`, `https://host/`, `.../v2/`)."""
    url = url.rstrip("/")
    return (url.removesuffix("/v2") if url.endswith("/v2") else url) + "/"


def outgoing(up: Handle, client_auth: str | None) -> dict[str, str]:
    """Authorization for a request to `up`: the client's token for a token registry, else the
    configured credentials, else none (the gateway's placeholder token never leaves)."""
    if up.cache.challenge is not None and client_auth and ANONYMOUS not in client_auth:
        return {"Authorization": client_auth}
    return dict(up.client.headers)


async def challenge(up: Handle) -> Challenge | None:
    """The registry's bearer challenge, pinging `/v2/` when it is not known (open ones are asked
    again after a while); an unreachable registry counts as open until it answers."""
    state = up.cache
    if state.challenge is not None or time.monotonic() - state.checked < _RECHECK_S:
        return state.challenge
    async with state.lock:
        if state.challenge is not None or time.monotonic() - state.checked < _RECHECK_S:
            return state.challenge
        try:
            reply = await send(up, "GET", up.client.base_url + "v2/", dict(up.client.headers))
        except UpstreamError:
            return None
        state.checked = time.monotonic()
        learn(up, reply.status, reply.headers)
        return state.challenge


def learn(up: Handle, status: int, headers: httpx.Headers) -> None:
    """Remember a bearer challenge a 401 of the registry stated."""
    if status == 401:
        found = parse_challenge(headers.get("www-authenticate"))
        if found is not None:
            up.cache.challenge = found


async def send(
    up: Handle, method: str, url: str, headers: dict[str, str], max_bytes: int = MAX_DOCUMENT
) -> Reply:
    """One request to the registry, redirects followed, body bounded; raises UpstreamError for
    connection errors, timeouts, 5xx, oversized bodies and an open breaker."""
    client = up.client
    if not client.breaker.allow():
        raise UpstreamError(f"{up.name}: circuit open after repeated failures")
    deadline = client.timeout if client.timeout is not None else client.http.timeout.read
    client.requests += 1
    verdict = False
    started = time.perf_counter()
    try:
        async with (
            asyncio.timeout(deadline),
            client.http.stream(method, url, headers=headers, timeout=client.timeout) as resp,
        ):
            if resp.status_code >= 500:
                raise UpstreamError(f"{up.name}: {url} answered HTTP {resp.status_code}")
            body = b"" if method == "HEAD" else await _read(resp, max_bytes, up.name)
            verdict = True
            client.breaker.success()
            _note(up, started)
            return Reply(resp.status_code, resp.headers, body, str(resp.url))
    except httpx.HTTPError as exc:
        verdict = True
        client.failed()
        _note(up, None)
        raise UpstreamError(f"{up.name}: {type(exc).__name__}") from None
    except UpstreamError:
        verdict = True
        client.failed()
        _note(up, None)
        raise
    except TimeoutError:
        verdict = True
        client.failed()
        _note(up, None)
        raise UpstreamError(f"{up.name}: no complete answer within {deadline}s") from None
    finally:
        if not verdict:
            client.breaker.abandon()


async def open_blob(up: Handle, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    """Start a blob request without following redirects (the caller closes it); raises UpstreamError."""
    client = up.client
    if not client.breaker.allow():
        raise UpstreamError(f"{up.name}: circuit open after repeated failures")
    client.requests += 1
    started = time.perf_counter()
    request = client.http.build_request(method, url, headers=headers, timeout=client.timeout)
    try:
        resp = await client.http.send(request, stream=True, follow_redirects=False)
    except httpx.HTTPError as exc:
        client.failed()
        _note(up, None)
        raise UpstreamError(f"{up.name}: {type(exc).__name__}") from None
    if resp.status_code >= 500:
        await resp.aclose()
        client.failed()
        _note(up, None)
        raise UpstreamError(f"{up.name}: {url} answered HTTP {resp.status_code}")
    client.breaker.success()
    _note(up, started)
    return resp


async def _read(resp: httpx.Response, max_bytes: int, name: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise UpstreamError(f"{name}: answer larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def build_handles(
    cfg: Config, http: httpx.AsyncClient, previous: dict[str, Handle] | None, metrics: Metrics | None = None
) -> dict[str, Handle]:
    """A handle per OCI upstream of `cfg`; unchanged ones keep their client, breaker and state."""
    handles = shared_build_handles(
        cfg,
        "oci",
        http,
        previous,
        lambda client: Registry(),
        accept=lambda up: "application/json",
        base=base_url,
        max_bytes=MAX_DOCUMENT,
    )
    for handle in handles.values():
        handle.cache.metrics = metrics
    return handles
