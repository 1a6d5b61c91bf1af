"""Upstream faults: a real gateway in front of an index that hangs, resets, drips, sends garbage,
a 200 MB page or a redirect loop, and one with an untrusted TLS certificate.

Every answer must be a stale copy (a page seen before) or 502 (a page never seen) — never a 404,
which would tell pip the project does not exist — and must come back (a dripping upstream must not
hold a request for ever). The worker's memory stays bounded: its RSS is printed at start and end,
and the gateway stops reading an oversized page at `gateway.max_page_bytes`.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import httpx
import pytest
import trustme

from tests.reliability.faulty import MODES, FaultyUpstream
from tests.reliability.served import Served

pytestmark = pytest.mark.e2e
FAULTS = [m for m in MODES if m != "good"]
MAX_PAGE = 16 << 20
ROUNDS = 3


def tls_context(tmp_path: Path) -> ssl.SSLContext:
    """A server certificate from a throwaway CA the gateway does not trust."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    return ctx


def config(up: FaultyUpstream, tls: FaultyUpstream) -> dict[str, dict[str, object]]:
    return {
        "gateway": {
            "secret": "upstream-fault-secret-0123456789",
            "default_upstream": "faulty",
            "cache_ttl": 1,
            "upstream_timeout": 2,
            "max_page_bytes": MAX_PAGE,
        },
        "upstreams.faulty": {"url": up.simple_url},
        "upstreams.tls": {"url": tls.simple_url},
        # Every request must meet the fault itself, not an open breaker's quick refusal.
        "routing": {"breaker_threshold": 1_000_000},
    }


async def fetch_all(url: str, names: list[str]) -> dict[str, httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=90) as client:
        got = await asyncio.gather(
            *(
                client.get(f"/simple/{n}/", headers={"accept": "application/vnd.pypi.simple.v1+json"})
                for n in names
            )
        )
    return dict(zip(names, got, strict=True))


def test_upstream_faults_give_stale_or_502_never_404(tmp_path: Path) -> None:
    up = FaultyUpstream(huge_bytes=200 << 20)
    tls = FaultyUpstream(tls=tls_context(tmp_path))
    gw = Served(tmp_path / "gw", config(up, tls))
    # routing rule for the TLS upstream: written as TOML tables after the generated sections
    with gw.config.open("a") as cfg:
        cfg.write('[[routing.rules]]\nprojects = ["tls-*"]\nupstreams = ["tls"]\n')
    gw.start()
    try:
        primed = [f"primed-{m}" for m in FAULTS]
        cold = [f"cold-{m}" for m in FAULTS]
        for name in primed + cold:
            up.set_mode(name, "good")
        rss_start = gw.rss_kib()
        first = asyncio.run(fetch_all(gw.url, primed))
        assert {n: r.status_code for n, r in first.items()} == dict.fromkeys(primed, 200)
        for mode in FAULTS:
            up.set_mode(f"primed-{mode}", mode)
            up.set_mode(f"cold-{mode}", mode)
        time.sleep(1.5)  # past cache_ttl: every page must be asked for again
        statuses: dict[str, set[tuple[int, str]]] = {}
        started = time.monotonic()
        for _ in range(ROUNDS):
            got = asyncio.run(fetch_all(gw.url, [*primed, *cold, "tls-project", "tls-other"]))
            for name, resp in got.items():
                statuses.setdefault(name, set()).add(
                    (resp.status_code, resp.headers.get("x-pkgate-cache", ""))
                )
        took = time.monotonic() - started
        rss_end = gw.rss_kib()
        huge_requests = 2 * ROUNDS
        print(
            f"\nupstream faults: {ROUNDS} rounds of {len(statuses)} pages in {took:.1f}s; "
            f"worker RSS start {rss_start} KiB, end {rss_end} KiB; "
            f"huge page bytes sent {up.huge_sent >> 20} MiB for {huge_requests} requests "
            f"(limit {MAX_PAGE >> 20} MiB each); answers {sorted((n, sorted(s)) for n, s in statuses.items())}"
        )
        for name in primed:
            assert statuses[name] == {(200, "stale")}, (name, statuses[name])
        for name in [*cold, "tls-project", "tls-other"]:
            assert statuses[name] == {(502, "")}, (name, statuses[name])
        assert up.huge_sent < huge_requests * (MAX_PAGE + (16 << 20))  # stopped reading at the limit
        assert rss_start
        assert rss_end
        for pid, kib in rss_end.items():
            assert kib - rss_start.get(pid, kib) < 192 * 1024, (rss_start, rss_end)
        # The root joins every route's root; the TLS upstream's never answered, so: 502, not a 404.
        root = httpx.get(f"{gw.url}/simple/", headers={"accept": "application/vnd.pypi.simple.v1+json"})
        assert root.status_code == 502
    finally:
        code = gw.stop()
        up.stop()
        tls.stop()
    assert code == 0, gw.output()[-3000:]
    assert "Traceback" not in gw.output()
