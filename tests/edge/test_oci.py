"""The OCI ecosystem in process, against real registries (Debian's docker-registry): one open, one
behind a token server whose blobs redirect to a separate CDN (tests/support/oci.py)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgate import config
from pkgate.edge.app import ASGIApp
from pkgate.events import Event, decode
from pkgate.events.spool import iter_all
from tests.support.oci import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    SERVICE,
    Image,
    Registry,
    TokenServer,
    digest_of,
    multi_arch_image,
    single_image,
)

MULTI = multi_arch_image("multi")
DOCKER_MULTI = multi_arch_image("docker multi", arches=("amd64", "arm"), docker=True)
SINGLE = single_image("single", arch="arm64")


class Registries:
    def __init__(self, root: Path) -> None:
        (root / "open").mkdir()
        (root / "locked").mkdir()
        self.open = Registry(root / "open")
        self.tokens = TokenServer(root)
        self.locked = Registry(root / "locked", self.tokens, cdn=True)
        for reg, prefix in ((self.open, "open"), (self.locked, "locked")):
            reg.push(f"{prefix}/multi", "v1", MULTI)
            reg.push(f"{prefix}/single", "1.0", SINGLE)
        self.open.push("fallback/multi", "v1", MULTI)
        self.open.push("open/docker", "latest", DOCKER_MULTI)
        self.open.push("proxied/multi", "v1", MULTI)

    def stop(self) -> None:
        self.open.stop()
        self.locked.stop()
        self.tokens.stop()


@pytest.fixture(scope="module")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registries]:
    regs = Registries(tmp_path_factory.mktemp("registries"))
    yield regs
    regs.stop()


def config_text(regs: Registries, tmp: Path, locked: bool = True, extra: str = "") -> str:
    text = (
        '[gateway]\nsecret = "oci-test-secret-0123456789"\ndefault_upstream = ""\n[storage]\n'
        f'data_dir = "{tmp / "data"}"\n'
        f'[upstreams.open]\nurl = "{regs.open.url}"\necosystem = "oci"\n'
        f'[upstreams.locked]\nurl = "{regs.locked.url}/v2/"\necosystem = "oci"\n'
        '[[routing.rules]]\necosystem = "oci"\nprojects = ["open/*"]\nupstreams = ["open"]\n'
    )
    if locked:
        text += '[[routing.rules]]\necosystem = "oci"\nprojects = ["locked/*"]\nupstreams = ["locked"]\n'
    return text + extra


@pytest.fixture
async def gateway(registries: Registries, tmp_path: Path) -> AsyncIterator[Any]:
    apps: list[ASGIApp] = []
    clients: list[httpx.AsyncClient] = []

    async def start(locked: bool = True, extra: str = "") -> tuple[httpx.AsyncClient, ASGIApp]:
        path = tmp_path / f"pkgate{len(apps)}.toml"
        path.write_text(config_text(registries, tmp_path / str(len(apps)), locked, extra))
        app = ASGIApp(config.load(path), source=str(path))
        await app.worker.start()
        app.gateway = app.worker.gateway
        apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.9", 1234)), base_url="http://gw.test"
        )
        clients.append(client)
        return client, app

    yield start
    for c in clients:
        await c.aclose()
    for a in apps:
        await a.worker.close()


def events(app: ASGIApp) -> list[Event]:
    return [decode(p) for _, p in iter_all(app.worker.cfg.paths.spool)]


def child(image: Image, platform: str) -> str:
    return next(d for d, p in image.platforms.items() if p == platform)


async def test_open_registry_pull_by_tag_and_digest(gateway: Any, registries: Registries) -> None:
    client, app = await gateway(locked=False)
    ping = await client.get("/v2/")
    assert (ping.status_code, ping.headers["docker-distribution-api-version"]) == (200, "registry/2.0")
    # skopeo's way: one media type per Accept line; all of them count.
    accept = [("accept", OCI_MANIFEST), ("accept", OCI_INDEX)]
    index = await client.get("/v2/open/multi/manifests/v1", headers=accept)
    assert index.status_code == 200
    assert index.content == MULTI.top
    assert index.headers["content-type"] == OCI_INDEX
    assert index.headers["docker-content-digest"] == MULTI.digest
    arm = child(MULTI, "linux/arm64")
    image = await client.get(f"/v2/open/multi/manifests/{arm}", headers=accept)
    assert image.status_code == 200
    assert digest_of(image.content) == arm
    check = await client.head(f"/v2/open/multi/manifests/{arm}", headers=accept)
    assert check.status_code == 200
    assert check.headers["docker-content-digest"] == arm
    layer = MULTI.layers(image.content)[0]
    blob = await client.get(f"/v2/open/multi/blobs/{layer}")
    assert blob.status_code == 307
    assert blob.headers["location"] == f"{registries.open.url}/v2/open/multi/blobs/{layer}"
    again = await client.get(f"/v2/open/multi/blobs/{layer}")  # from the gateway's memo
    assert (again.status_code, again.headers["location"]) == (307, blob.headers["location"])
    fetched = httpx.get(blob.headers["location"])
    assert hashlib.sha256(fetched.content).hexdigest() == layer.removeprefix("sha256:")
    tags = await client.get("/v2/open/multi/tags/list")
    assert tags.json() == {"name": "open/multi", "tags": ["v1"]}
    missing = "sha256:" + "0" * 64
    assert (await client.get(f"/v2/open/multi/blobs/{missing}")).status_code == 404
    assert (await client.get("/v2/open/multi/manifests/nope", headers=accept)).status_code == 404
    single = await client.get("/v2/open/single/manifests/1.0", headers=[("accept", OCI_MANIFEST)])
    assert single.status_code == 200
    assert single.content == SINGLE.top
    rows = [
        (e.method, e.kind, e.status, e.project, e.version, e.digest, e.platform, e.ecosystem)
        for e in events(app)
    ]
    assert rows == [
        ("GET", "other", 200, None, None, None, None, "oci"),
        ("GET", "index-project", 200, "open/multi", "v1", MULTI.digest, None, "oci"),
        ("GET", "manifest", 200, "open/multi", "v1", arm, "linux/arm64", "oci"),
        ("HEAD", "manifest", 200, "open/multi", "v1", arm, "linux/arm64", "oci"),
        ("GET", "blob", 307, "open/multi", None, layer, None, "oci"),
        ("GET", "blob", 307, "open/multi", None, layer, None, "oci"),
        ("GET", "index-project", 200, "open/multi", None, None, None, "oci"),
        ("GET", "blob", 404, "open/multi", None, missing, None, "oci"),
        ("GET", "manifest", 404, "open/multi", "nope", None, None, "oci"),
        ("GET", "manifest", 200, "open/single", "1.0", SINGLE.digest, None, "oci"),
    ]
    assert {e.upstream for e in events(app) if e.project} == {"open"}
    # Upstream requests: the ping's challenge check, the index and image GETs + 1 HEAD, the blob's
    # HEAD (once: then memoised), the tag list, the missing blob, the missing tag, single's manifest.
    assert app.worker.gateway is not None
    assert app.worker.gateway.metrics.snap.upstream_requests == {"open": 9}


async def test_unserved_and_malformed_requests(gateway: Any) -> None:
    client, app = await gateway(locked=False)
    unrouted = await client.get("/v2/locked/multi/manifests/v1")
    assert unrouted.status_code == 404
    assert unrouted.json()["errors"][0]["code"] == "NAME_UNKNOWN"
    assert (await client.get("/v2/Open/multi/manifests/v1")).status_code == 404  # not a repository name
    assert (await client.get("/v2/open/multi/blobs/sha256:abc")).status_code == 404  # not a digest
    assert (await client.get("/v2/_catalog")).status_code == 404
    assert (await client.put("/v2/open/multi/manifests/v1", content=b"{}")).status_code == 405
    assert (await client.post("/v2/open/multi/blobs/uploads/")).status_code == 404
    kinds = [(e.kind, e.status) for e in events(app)]
    assert kinds == [
        ("index-miss", 404),
        ("other", 404),
        ("other", 404),
        ("other", 404),
        ("manifest", 405),
        ("other", 404),
    ]


async def test_token_registry_through_the_gateway_realm(gateway: Any, registries: Registries) -> None:
    client, app = await gateway()
    ping = await client.get("/v2/")
    assert ping.status_code == 401
    assert ping.headers["www-authenticate"] == 'Bearer realm="http://gw.test/v2/_token",service="pkgate"'
    anonymous = await client.get("/v2/locked/multi/manifests/v1", headers={"accept": OCI_INDEX})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == (
        'Bearer realm="http://gw.test/v2/_token",service="pkgate",scope="repository:locked/multi:pull"'
    )
    got = await client.get(
        "/v2/_token", params={"service": "pkgate", "scope": "repository:locked/multi:pull"}
    )
    assert got.status_code == 200
    assert registries.tokens.services[-1] == SERVICE  # the registry's service, not the gateway's
    auth = {"authorization": f"Bearer {got.json()['token']}"}
    index = await client.get("/v2/locked/multi/manifests/v1", headers={"accept": OCI_INDEX, **auth})
    assert index.status_code == 200
    assert index.content == MULTI.top
    amd = child(MULTI, "linux/amd64")
    image = await client.get(f"/v2/locked/multi/manifests/{amd}", headers={"accept": OCI_MANIFEST, **auth})
    assert image.status_code == 200
    layer = MULTI.layers(image.content)[0]
    blob = await client.get(f"/v2/locked/multi/blobs/{layer}", headers=auth)
    assert blob.status_code == 307
    cdn = registries.locked.cdn
    assert cdn is not None
    assert blob.headers["location"].startswith(cdn.url + "/")  # where the registry sends it, not to itself
    fetched = httpx.get(blob.headers["location"])  # no Authorization, as clients do across hosts
    assert digest_of(fetched.content) == layer
    no_token = await client.get(f"/v2/locked/multi/blobs/{layer}")
    assert no_token.status_code == 401
    # An open repository gets the placeholder token, which never reaches its registry.
    opened = await client.get("/v2/_token", params={"scope": "repository:open/multi:pull"})
    assert opened.json()["token"] == "pkgate-anonymous"
    rows = [(e.kind, e.status, e.project, e.digest, e.platform) for e in events(app)]
    assert rows == [
        ("other", 401, None, None, None),
        ("manifest", 401, "locked/multi", None, None),
        ("other", 200, None, None, None),
        ("index-project", 200, "locked/multi", MULTI.digest, None),
        ("manifest", 200, "locked/multi", amd, "linux/amd64"),
        ("blob", 307, "locked/multi", layer, None),
        ("blob", 401, "locked/multi", layer, None),
        ("other", 200, None, None, None),
    ]


def test_index_bodies_are_kept_byte_for_byte() -> None:
    """The digest a client checks is over the bytes: the fixture's index must not be re-serialised."""
    assert json.loads(MULTI.top)["mediaType"] == OCI_INDEX


async def test_a_config_without_images_leaves_v2_alone(tmp_path: Path) -> None:
    path = tmp_path / "pkgate.toml"
    path.write_text(
        f'[gateway]\nsecret = "oci-test-secret-0123456789"\n[storage]\ndata_dir = "{tmp_path / "d"}"\n'
    )
    app = ASGIApp(config.load(path), source=str(path))
    gw = await app.worker.start()
    try:
        assert gw.ecosystems.find("/v2/") is None
        assert gw.ecosystems["oci"].paths == ((), ())
        transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 1))
        app.gateway = gw
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            assert (await client.get("/v2/")).status_code == 404
        assert [(e.ecosystem, e.status) for e in events(app)] == [("gateway", 404)]
    finally:
        await app.worker.close()


FAILOVER = """
[upstreams.dead]
url = "http://127.0.0.1:9"
ecosystem = "oci"
[upstreams.streamed]
url = "{open}"
ecosystem = "oci"
mode = "proxy"
[[routing.rules]]
ecosystem = "oci"
projects = ["fallback/*"]
upstreams = ["dead", "open"]
[[routing.rules]]
ecosystem = "oci"
projects = ["proxied/*"]
upstreams = ["streamed"]
"""


async def test_failover_and_proxied_blobs(gateway: Any, registries: Registries) -> None:
    client, app = await gateway(locked=False, extra=FAILOVER.format(open=registries.open.url))
    assert (await client.get("/v2/")).status_code == 200  # an unreachable registry needs no token
    index = await client.get("/v2/fallback/multi/manifests/v1", headers={"accept": OCI_INDEX})
    assert index.status_code == 200
    assert index.content == MULTI.top
    layer = next(iter(MULTI.blobs))
    blob = await client.get(f"/v2/fallback/multi/blobs/{layer}")
    assert (blob.status_code, blob.headers["location"]) == (
        307,
        f"{registries.open.url}/v2/fallback/multi/blobs/{layer}",
    )
    streamed = await client.get(f"/v2/proxied/multi/blobs/{layer}")
    assert streamed.status_code == 200
    assert streamed.content == MULTI.blobs[layer]
    rows = [(e.kind, e.status, e.upstream, e.failover) for e in events(app) if e.project]
    assert rows == [
        ("index-project", 200, "open", True),
        ("blob", 307, "open", True),
        ("blob", 200, "streamed", False),
    ]


async def test_docker_manifest_list(gateway: Any) -> None:
    """Docker media types: a manifest list is the repository's document, its entries are pulls."""
    client, app = await gateway(locked=False)
    accept = [("accept", DOCKER_MANIFEST), ("accept", DOCKER_LIST)]
    listed = await client.get("/v2/open/docker/manifests/latest", headers=accept)
    assert listed.status_code == 200
    assert listed.headers["content-type"] == DOCKER_LIST
    assert listed.headers["docker-content-digest"] == DOCKER_MULTI.digest
    arm = child(DOCKER_MULTI, "linux/arm")
    image = await client.get(f"/v2/open/docker/manifests/{arm}", headers=accept)
    assert image.headers["content-type"] == DOCKER_MANIFEST
    rows = [(e.kind, e.status, e.version, e.digest, e.platform) for e in events(app)]
    assert rows == [
        ("index-project", 200, "latest", DOCKER_MULTI.digest, None),
        ("manifest", 200, "latest", arm, "linux/arm"),
    ]


async def test_bad_input_is_a_4xx_never_a_500(gateway: Any) -> None:
    client, app = await gateway()
    many = "&".join(f"scope=repository:x{i}:pull" for i in range(200))
    answers = [
        await client.get(f"/v2/_token?{many}"),
        await client.get("/v2/open/multi/tags/list?" + "&".join(f"n={i}" for i in range(100))),
        await client.get("/v2/_token", params={"scope": "repository:../../etc:pull"}),
        await client.get("/v2/open/multi/manifests/v1", headers={"accept": "x" * 20000}),
        await client.get("/v2/open/multi/manifests/v1", headers={"host": "bad host"}),
        await client.get("/v2/" + "a/" * 600 + "manifests/v1"),
    ]
    assert all(r.status_code < 500 for r in answers), [r.status_code for r in answers]
    assert answers[1].json()["name"] == "open/multi"
    assert all(e.status < 500 for e in events(app))
