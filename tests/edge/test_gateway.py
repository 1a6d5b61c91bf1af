"""The gateway in-process (ASGI) in front of a real static upstream on a loopback port.

Covers what the HTTP front promises: PEP 691 negotiation (406, Vary), PEP 503 redirects for
non-normalised names, 404s for unknown projects and tampered links, ETag/If-Modified-Since 304s,
HEAD, 405, stale-on-error, metadata redirects, and that each request is exactly one event.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from pkgate import config
from pkgate.edge.app import ASGIApp
from pkgate.events import Event, decode
from pkgate.events.spool import iter_all, list_segments
from tests.e2e.upstreams import StaticIndex, build_static_index, read_dists

REPO = Path(__file__).resolve().parents[2]
DISTS = REPO / ".cache" / "test-dists"
JSON = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticIndex]:
    subprocess.run([sys.executable, str(REPO / "scripts" / "fetch-test-wheels"), str(DISTS)], check=True)
    root = tmp_path_factory.mktemp("static")
    build_static_index(read_dists(DISTS), root, {"six-1.16.0-py2.py3-none-any.whl": "broken"})
    server = StaticIndex(root).start()
    yield server
    server.stop()


@pytest.fixture
async def gw(tmp_path: Path, upstream: StaticIndex) -> AsyncIterator[tuple[httpx.AsyncClient, ASGIApp]]:
    cfg = config.load(
        None,
        env={
            "PKGATE_UPSTREAMS_LOCAL_URL": upstream.simple_url,
            "PKGATE_GATEWAY_DEFAULT_UPSTREAM": "local",
            "PKGATE_GATEWAY_SECRET": "unit-test-secret-0123456789",
            "PKGATE_STORAGE_DATA_DIR": str(tmp_path / "data"),
            "PKGATE_GATEWAY_CACHE_TTL": "0",
        },
    )
    app = ASGIApp(cfg)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.5", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client, app
    await app.worker.close()


def events(app: ASGIApp) -> list[Event]:
    return [decode(p) for _, p in iter_all(app.worker.cfg.paths.spool)]


async def test_negotiation_and_vary(gw: tuple[httpx.AsyncClient, ASGIApp]) -> None:
    client, _ = gw
    r = await client.get("/simple/six/", headers={"accept": JSON})
    assert r.status_code == 200
    assert r.headers["content-type"] == JSON
    assert r.headers["vary"] == "Accept"
    page = r.json()
    assert page["name"] == "six"
    f = page["files"][0]
    assert f["url"].startswith("/files/six/")
    assert f["yanked"] == "broken"
    r = await client.get("/simple/six/", headers={"accept": "text/html"})
    assert r.headers["content-type"].startswith("text/html")
    assert 'data-yanked="broken"' in r.text
    r = await client.get("/simple/six/", headers={"accept": "application/vnd.pypi.simple.v1+html"})
    assert r.headers["content-type"] == "application/vnd.pypi.simple.v1+html"
    r = await client.get("/simple/six/", headers={"accept": "image/png"})
    assert r.status_code == 406
    r = await client.get("/simple/six/?format=" + JSON.replace("+", "%2B"), headers={"accept": "text/html"})
    assert r.headers["content-type"] == JSON


async def test_normalisation_redirect_and_unknown(gw: tuple[httpx.AsyncClient, ASGIApp]) -> None:
    client, app = gw
    for path in ("/simple/Jaraco.Functools/", "/simple/jaraco_functools", "/simple/jaraco.functools/"):
        r = await client.get(path)
        assert r.status_code == 301
        assert r.headers["location"] == "/simple/jaraco-functools/"
    r = await client.get("/simple/six")
    assert r.status_code == 301
    assert r.headers["location"] == "/simple/six/"
    r = await client.get("/simple/no-such-project/")
    assert r.status_code == 404
    r = await client.get("/simple/bad%20name!/")
    assert r.status_code == 404
    kinds = [(e.kind, e.status, e.project) for e in events(app)]
    assert kinds[-1] == ("index-project", 404, None)
    assert ("index-project", 404, "no-such-project") in kinds


async def test_file_redirect_metadata_head_and_tampering(
    gw: tuple[httpx.AsyncClient, ASGIApp], upstream: StaticIndex
) -> None:
    client, app = gw
    page = (await client.get("/simple/more-itertools/", headers={"accept": JSON})).json()
    f = next(f for f in page["files"] if f["filename"].endswith("10.2.0-py3-none-any.whl"))
    r = await client.get(f["url"])
    assert r.status_code == 302
    assert r.headers["location"] == f"{upstream.url}/files/{f['filename']}"
    assert f["core-metadata"]
    r = await client.get(f["url"] + ".metadata")
    assert r.status_code == 302
    assert r.headers["location"] == f"{upstream.url}/files/{f['filename']}.metadata"
    r = await client.head(f["url"])
    assert r.status_code == 302
    assert r.content == b""
    tampered = f["url"].replace("10.2.0", "10.9.9")
    assert (await client.get(tampered)).status_code == 404
    assert (await client.get("/files/x/y/z")).status_code == 404
    assert (await client.post(f["url"])).status_code == 405
    evs = [e for e in events(app) if e.kind in ("file", "metadata")]
    assert [(e.kind, e.method, e.status) for e in evs] == [
        ("file", "GET", 302),
        ("metadata", "GET", 302),
        ("file", "HEAD", 302),
        ("file", "GET", 404),
        ("file", "GET", 404),
        ("file", "POST", 405),
    ]
    first = evs[0]
    assert (first.project, first.version, first.filename) == ("more-itertools", "10.2.0", f["filename"])
    assert first.source_id
    assert first.network_id


async def test_events_name_the_ecosystem(gw: tuple[httpx.AsyncClient, ASGIApp]) -> None:
    """Python's paths are recorded as ecosystem "python" (memoised file links too), file links
    without their signed token; a path no ecosystem claims is the gateway's own 404."""
    client, app = gw
    page = (await client.get("/simple/six/", headers={"accept": JSON})).json()
    url = page["files"][0]["url"]
    for _ in range(2):  # the second answer comes from the gateway's memo of verified links
        assert (await client.get(url)).status_code == 302
    assert (await client.get("/")).status_code == 302
    assert (await client.get("/nothing-here")).status_code == 404
    assert (await client.get("/simplex/")).status_code == 404
    got = [(e.path, e.kind, e.ecosystem, e.project) for e in events(app)]
    recorded = "/files/six/" + url.rsplit("/", 1)[1]  # /files/<project>/<token>/<file>, no token
    assert recorded.startswith("/files/six/six-")
    assert url.count("/") > recorded.count("/")
    assert got == [
        ("/simple/six/", "index-project", "python", "six"),
        (recorded, "file", "python", "six"),
        (recorded, "file", "python", "six"),
        ("/", "other", "python", None),
        ("/nothing-here", "other", "gateway", None),
        ("/simplex/", "other", "gateway", None),
    ]


async def test_conditional_requests(gw: tuple[httpx.AsyncClient, ASGIApp]) -> None:
    client, app = gw
    r = await client.get("/simple/six/")
    etag = r.headers["etag"]
    r2 = await client.get("/simple/six/", headers={"if-none-match": etag})
    assert r2.status_code == 304
    assert r2.headers["etag"] == etag
    r3 = await client.get("/simple/six/", headers={"if-none-match": '"other"'})
    assert r3.status_code == 200
    # a different representation has a different ETag
    r4 = await client.get("/simple/six/", headers={"accept": JSON, "if-none-match": etag})
    assert r4.status_code == 200
    assert r4.headers["etag"] != etag
    evs = [e for e in events(app) if e.kind == "index-project"]
    assert [(e.status, e.conditional) for e in evs] == [(200, False), (304, True), (200, True), (200, True)]


async def test_stale_on_error(
    gw: tuple[httpx.AsyncClient, ASGIApp], upstream: StaticIndex, tmp_path: Path
) -> None:
    client, app = gw
    assert (await client.get("/simple/six/")).headers["x-pkgate-cache"] in ("miss", "revalidated")
    # point the cache at a dead upstream: the last good page is served and says so
    cache = app.gateway.ecosystems["python"].table.upstreams["local"].client  # type: ignore[union-attr]
    cache.base_url = "http://127.0.0.1:9/simple/"
    r = await client.get("/simple/six/")
    assert r.status_code == 200
    assert r.headers["x-pkgate-cache"] == "stale"
    assert "110" in r.headers["warning"]
    r = await client.get("/simple/never-seen/")
    assert r.status_code == 502
    assert events(app)[-1].cache is None


async def test_root_and_health(gw: tuple[httpx.AsyncClient, ASGIApp]) -> None:
    client, app = gw
    r = await client.get("/simple/", headers={"accept": JSON})
    names = [p["name"] for p in r.json()["projects"]]
    assert "six" in names
    html = (await client.get("/simple/")).text
    assert 'href="/simple/jaraco-functools/"' in html
    health = json.loads((await client.get("/healthz")).content)
    assert health["status"] == "ok"
    assert health["spool_lag"] == 2
    metrics = (await client.get("/metrics")).text
    assert 'pkgate_requests_total{kind="index-root",status="200"} 2' in metrics
    assert len(events(app)) == 2  # health and metrics are not recorded


def test_event_fields_are_msgpack_arrays() -> None:
    """The spool wire format is positional: changing field order would corrupt old segments."""
    assert list(Event.__struct_fields__[:8]) == [
        "id",
        "ts_us",
        "gateway",
        "method",
        "path",
        "kind",
        "status",
        "duration_us",
    ]
    assert (
        msgspec.msgpack.decode(
            msgspec.msgpack.encode(
                Event(
                    id="x",
                    ts_us=1,
                    gateway="g",
                    method="GET",
                    path="/",
                    kind="other",
                    status=404,
                    duration_us=1,
                )
            )
        )[0]
        == "x"
    )


@pytest.fixture
def file_size_limit() -> Iterator[Callable[[int], None]]:
    """Set RLIMIT_FSIZE for this process (writes past it fail with EFBIG), restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    yield lambda n: resource.setrlimit(resource.RLIMIT_FSIZE, (n, hard))
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, old)


async def test_a_memoised_redirect_that_cannot_be_recorded_is_a_503(
    gw: tuple[httpx.AsyncClient, ASGIApp], file_size_limit: Callable[[int], None]
) -> None:
    """Not recorded means not answered, on the memo's hot path too (a retryable 503, no event);
    once the spool can be written again the link answers and records as before."""
    client, app = gw
    page = (await client.get("/simple/six/", headers={"accept": JSON})).json()
    url = page["files"][0]["url"]
    assert (await client.get(url)).status_code == 302  # verified, memoised, its event templated
    segment = list_segments(app.worker.cfg.paths.spool)[0]
    file_size_limit(segment.path.stat().st_size)  # the next spool write fails (EFBIG)
    refused = await client.get(url)
    file_size_limit(resource.RLIM_INFINITY)
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert (await client.get(url)).status_code == 302
    assert [e.status for e in events(app) if e.kind == "file"] == [302, 302]
