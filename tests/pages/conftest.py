"""Fixtures of the page-fidelity tests: the synthetic upstream and gateways in front of it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from pkgate import config
from pkgate.edge.app import ASGIApp
from tests.pages.synthetic import SyntheticIndex

Gateways = dict[str, httpx.AsyncClient]


@pytest.fixture(scope="module")
def upstream() -> Iterator[SyntheticIndex]:
    server = SyntheticIndex().start()
    yield server
    server.stop()


def gateway_config(upstream: SyntheticIndex, kind: str, data: Path) -> config.Config:
    return config.load(
        None,
        env={
            "PKGATE_UPSTREAMS_SYN_URL": upstream.simple_url,
            "PKGATE_UPSTREAMS_SYN_KIND": kind,
            "PKGATE_GATEWAY_DEFAULT_UPSTREAM": "syn",
            "PKGATE_GATEWAY_SECRET": "unit-test-secret-0123456789",
            "PKGATE_STORAGE_DATA_DIR": str(data),
            "PKGATE_GATEWAY_CACHE_TTL": "0",
        },
    )


@pytest.fixture
async def gateways(tmp_path: Path, upstream: SyntheticIndex) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One in-process gateway per upstream format (`upstreams.syn.kind`), both before the same index."""
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for kind in ("json", "html"):
            app = ASGIApp(gateway_config(upstream, kind, tmp_path / kind))
            stack.push_async_callback(app.worker.close)
            transport = httpx.ASGITransport(app=app, client=("127.0.0.5", 40000))
            clients[kind] = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://gw")
            )
        yield clients
