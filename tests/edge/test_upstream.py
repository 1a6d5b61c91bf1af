"""PageCache against a real upstream: the memory budget and the negative cache are bounded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pkgate.edge import upstream as upstream_mod
from pkgate.edge.client import UpstreamClient
from pkgate.edge.upstream import UPSTREAM_ACCEPT, PageCache
from pkgate.errors import UpstreamNotFound
from tests.e2e.upstreams import StaticIndex, build_static_index, read_dists

REPO = Path(__file__).resolve().parents[2]
DISTS = REPO / ".cache" / "test-dists"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticIndex]:
    subprocess.run([sys.executable, str(REPO / "scripts" / "fetch-test-wheels"), str(DISTS)], check=True)
    root = tmp_path_factory.mktemp("static")
    build_static_index(read_dists(DISTS), root)
    server = StaticIndex(root).start()
    yield server
    server.stop()


def upstream_client(index: StaticIndex, http: httpx.AsyncClient) -> UpstreamClient:
    return UpstreamClient("u", index.simple_url, http, accept=UPSTREAM_ACCEPT, max_bytes=1 << 20)


NAMES = ["six", "more-itertools", "jaraco-functools", "flit-core", "tomli"]


async def test_memory_budget_evicts_oldest(index: StaticIndex) -> None:
    async with httpx.AsyncClient() as client:
        big = PageCache(upstream_client(index, client), 60, 600)
        for name in NAMES:
            await big.project(name)
        per_page = max(e.size for e in big._projects.values())
        budget = per_page * 2 + 1
        small = PageCache(upstream_client(index, client), 60, 600, cache_bytes=budget)
        for name in NAMES:
            got = await small.project(name)
            assert got.state == "miss"
            assert small.held_bytes <= budget
        assert len(small._projects) < len(NAMES)  # some were evicted
        assert list(small._projects)[-1] == NAMES[-1]  # the newest stays
        # an evicted page is simply fetched again
        assert (await small.project(NAMES[0])).state == "miss"
        assert small.held_bytes == sum(e.size for e in small._projects.values())


async def test_negative_cache_is_bounded(index: StaticIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_mod, "MAX_MISSING", 3)
    async with httpx.AsyncClient() as client:
        cache = PageCache(upstream_client(index, client), 60, 600)
        for i in range(10):
            with pytest.raises(UpstreamNotFound):
                await cache.project(f"nope-{i}")
        assert len(cache._missing) == 3
        assert list(cache._missing) == ["nope-7", "nope-8", "nope-9"]
