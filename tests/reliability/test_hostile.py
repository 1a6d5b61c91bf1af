"""Hostile input against a running gateway: many generated requests, every answer checked.

A real `pkgate serve` fronts a real static index; hypothesis generates the requests (see
hostile.py), a raw keep-alive client sends them in parallel, and each answer must be: not 5xx,
free of traceback text, with clean header lines (no CR/LF, no injected header), and any `Location`
either a URL the upstream listed or the gateway's own canonical `/simple/...` redirect. A trap
listening on 127.0.0.2 (the address the requests aim at) must see no connection, and the upstream
must only be asked for index pages. `PKGATE_FUZZ_REQUESTS` sets the count (bench/soak.sh: 100,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pkgate.edge.links import metadata_url
from tests.e2e.conftest import dists, static_index, static_root  # noqa: F401  (fixtures)
from tests.e2e.upstreams import StaticIndex
from tests.reliability.hostile import Checker, Corpus, requests
from tests.reliability.rawhttp import RawRequest, send_all
from tests.reliability.served import Served
from tests.reliability.trap import Trap

pytestmark = pytest.mark.e2e
FUZZ_REQUESTS = int(os.environ.get("PKGATE_FUZZ_REQUESTS", "30000"))
BATCH = 25
GENERATED = int(os.environ.get("PKGATE_FUZZ_DRAWN", "2000"))  # drawn by hypothesis; the rest recombined
JSON = "application/vnd.pypi.simple.v1+json"


def listed_urls(root: Path, simple_url: str) -> set[str]:
    """Every file and metadata URL the static index lists, resolved as a client would."""
    out: set[str] = set()
    for page in (root / "simple").glob("*/index.json"):
        base = f"{simple_url}{page.parent.name}/"
        for f in json.loads(page.read_text())["files"]:
            url = urljoin(base, f["url"]).split("#", 1)[0]
            out |= {url, metadata_url(url)}
    return out


def generate(corpus: Corpus, count: int) -> list[RawRequest]:
    """`count` requests: up to GENERATED drawn by hypothesis, the rest recombined from their parts
    (method, target, each header) by a seeded RNG, since hypothesis draws ~200 requests a second."""
    drawn = _draw(corpus, min(count, GENERATED))
    rng = random.Random(11)
    out = list(drawn)
    headers = [h for r in drawn for h in r.headers]
    while len(out) < count:
        base, other = rng.choice(drawn), rng.choice(drawn)
        picked = {name: value for name, value in rng.sample(headers, rng.randint(0, 6))}
        out.append(RawRequest(base.method, other.target, tuple(picked.items())))
    return out


def _draw(corpus: Corpus, count: int) -> list[RawRequest]:
    out: list[RawRequest] = []

    @settings(
        max_examples=max(1, count // BATCH),
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(requests(corpus), min_size=BATCH, max_size=BATCH))
    def collect(batch: list[RawRequest]) -> None:
        out.extend(batch)

    collect()
    return out


def test_hostile_requests(tmp_path: Path, static_index: StaticIndex, static_root: Path) -> None:  # noqa: F811
    trap = Trap()
    gw = Served(
        tmp_path / "gw",
        {
            "gateway": {
                "secret": "hostile-test-secret-0123456789",
                "default_upstream": "up",
                "admin_token": "hostile-admin-token-0123456789",
                "upstream_timeout": 5,
            },
            "upstreams": {},
            "upstreams.up": {"url": static_index.simple_url},
            "privacy": {"trusted_proxies": ["127.0.0.1/32"]},
        },
    ).start()
    try:
        mark = static_index.mark()
        with httpx.Client(base_url=gw.url) as client:
            root = client.get("/simple/", headers={"accept": JSON}).json()
            projects = [p["name"] for p in root["projects"]]
            index_paths, links, etags = ["/simple/"], [], []
            for name in projects:
                for accept in (JSON, "text/html"):
                    page = client.get(f"/simple/{name}/", headers={"accept": accept})
                    assert page.status_code == 200
                    etags.append(page.headers["etag"])
                files = client.get(f"/simple/{name}/", headers={"accept": JSON}).json()["files"]
                links += [f["url"] for f in files]
                links += [f["url"] + ".metadata" for f in files if f.get("core-metadata")]
                index_paths.append(f"/simple/{name}/")
        assert links
        assert etags
        corpus = Corpus(trap.address, index_paths, links, etags, projects)
        started = time.perf_counter()
        batch = generate(corpus, FUZZ_REQUESTS)
        generated_s = time.perf_counter() - started
        checker = Checker(listed_urls(static_root, static_index.simple_url))
        started = time.perf_counter()
        stats = asyncio.run(send_all("127.0.0.1", gw.port, batch, checker, connections=32))
        sent_s = time.perf_counter() - started
        verdict = checker.verdict
        print(
            f"\nfuzz: {len(batch)} requests generated in {generated_s:.1f}s, sent in {sent_s:.1f}s "
            f"({len(batch) / sent_s:.0f}/s, {stats.reconnects} connections); statuses {sorted(verdict.by_status.items())}; "
            f"redirects {verdict.redirects}, open redirects {verdict.open_redirects}, "
            f"5xx {verdict.server_errors}, tracebacks {verdict.tracebacks}, "
            f"header injections {verdict.header_injections}, transport errors {verdict.transport_errors}, "
            f"SSRF (trap connections) {trap.count()}"
        )
        assert len(batch) >= FUZZ_REQUESTS
        assert verdict.problems == []
        assert verdict.answered == len(batch)
        assert verdict.redirects > 0  # the allowed-location check did run
        assert trap.count() == 0, trap.connections
        asked = {r.path.split("?", 1)[0] for r in static_index.requests(mark)}
        pages = {"/simple/", *(f"/simple/{p}/" for p in projects)}
        strays = {p for p in asked if not re.fullmatch(r"/simple/([a-z0-9]+(-[a-z0-9]+)*/)?", p)}
        assert strays == set()  # the upstream is only ever asked for index pages of valid names
        assert pages <= asked
    finally:
        code = gw.stop()
        trap.close()
    assert code == 0, gw.output()[-3000:]
    assert "Traceback" not in gw.output()


def test_generation_recombines_the_drawn_parts() -> None:
    corpus = Corpus("127.0.0.2:1", ["/simple/"], ["/files/p/t.m/p-1.whl"], ['"e"'], ["p"])
    made = generate(corpus, GENERATED + 500)
    assert len(made) == GENERATED + 500
    drawn = made[:GENERATED]
    parts = {r.target for r in drawn}, {h for r in drawn for h in r.headers}
    assert all(r.target in parts[0] and set(r.headers) <= parts[1] for r in made[GENERATED:])
    assert len({r.target for r in made[GENERATED:]}) > 100  # recombined, not one request repeated
