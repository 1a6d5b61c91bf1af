"""The same requests, answered by a real gateway and ingested from a log: the same events.

One in-process gateway serves npm (a real verdaccio), OCI images (Debian's `docker-registry`), a
conda channel (built by py-rattler-build) and `[[files]]`. Each request's method, path and status
is then written as a combined-format log line twice: as a front of the gateway logs it (the
gateway's status), and as the registry itself logs it (files and blobs `200`: it sent them).
`pkgate ingest` of either log must give every event the gateway's kind, ecosystem, project,
version, filename, platform, digest and status, except for what only the response body or the
gateway's configuration tells (listed per request in `BLIND`, and in docs/ingest.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import httpx
import pytest

from pkgate import config
from pkgate.config import Config, Storage
from pkgate.edge.app import ASGIApp
from pkgate.events import Event, decode
from pkgate.events.spool import iter_all
from pkgate.ingest.run import Options, ingest
from tests.support.conda_channel import ChannelServer, Pkg, build_channel
from tests.support.npm_registry import Registries
from tests.support.oci import OCI_INDEX, OCI_MANIFEST, Registry, multi_arch_image, single_image

MULTI = multi_arch_image("agree multi")
SINGLE = single_image("agree single", arch="arm64")
FIELDS = ("method", "path", "kind", "ecosystem", "project", "version", "filename", "platform", "digest")


class Upstreams(NamedTuple):
    registry: Registry
    channel: ChannelServer


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    root = tmp_path_factory.mktemp("agree")
    build_channel(
        root / "conda" / "main", [Pkg("tool-x", "2.0.1", format="tar.bz2"), Pkg("acme-lib", "1.2.0")]
    )
    channel = ChannelServer(root / "conda").start()
    registry = Registry(root / "registry")
    try:
        registry.push("open/single", "1.0", SINGLE)
        registry.push("open/multi", "v1", MULTI)
        yield Upstreams(registry, channel)
    finally:
        registry.stop()
        channel.stop()


@pytest.fixture
async def gateway(
    tmp_path: Path, upstreams: Upstreams, npm_registries: Registries
) -> AsyncIterator[tuple[httpx.AsyncClient, ASGIApp]]:
    path = tmp_path / "pkgate.toml"
    path.write_text(
        '[gateway]\nsecret = "agree-test-secret-0123456789"\ndefault_upstream = ""\ncache_ttl = 0\n'
        f'[storage]\ndata_dir = "{tmp_path / "gateway"}"\n'
        f'[upstreams.npmjs]\nurl = "{npm_registries.public.url}"\necosystem = "npm"\n'
        f'[upstreams.images]\nurl = "{upstreams.registry.url}"\necosystem = "oci"\n'
        f'[upstreams.channels]\nurl = "{upstreams.channel.url}"\necosystem = "conda"\n'
        '[npm]\ndefault_upstream = "npmjs"\n[conda]\ndefault_upstream = "channels"\n'
        '[[routing.rules]]\necosystem = "oci"\nprojects = ["open/*"]\nupstreams = ["images"]\n'
        '[[files]]\nname = "Tool"\nurl = "https://cdn.example.net/tool/{version}/{file}"\n'
        'versions = ["1.*"]\n'
    )
    app = ASGIApp(config.load(path), source=str(path))
    await app.worker.start()
    app.gateway = app.worker.gateway
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("127.0.0.9", 1234)), base_url="http://gw.test"
    )
    try:
        yield client, app
    finally:
        await client.aclose()
        await app.worker.close()


# What a log line cannot tell, by the request's label: the gateway learns it from the response
# or from its configuration. Every other field must agree.
BLIND: dict[str, set[str]] = {
    "npm dist-tag": {"version"},  # `latest` resolved in the packument
    "oci manifest by tag": {"filename", "digest"},  # Docker-Content-Digest of the answer
    "oci manifest check by tag": {"filename", "digest"},
    "oci index by tag": {"kind", "filename", "digest"},  # an image index (content type)
    "oci child manifest": {"platform", "version"},  # from the index the gateway relayed
    "files outside the patterns": {"version", "filename"},  # `[[files]]` versions
}


async def _requests(client: httpx.AsyncClient) -> list[str]:
    """Make the requests; return their labels in order (one event each)."""
    labels: list[str] = []

    async def go(label: str, method: str, url: str, **kw: Any) -> httpx.Response:
        labels.append(label)
        return await client.request(method, url, **kw)

    packument = (await go("npm packument", "GET", "/npm/is-number")).json()
    signed = httpx.URL(packument["versions"]["7.0.0"]["dist"]["tarball"]).raw_path.decode()
    assert (await go("npm signed tarball", "GET", signed)).status_code == 302
    await go("npm tarball", "GET", "/npm/is-number/-/is-number-7.0.0.tgz")
    await go("npm tarball check", "HEAD", "/npm/is-number/-/is-number-7.0.0.tgz")
    await go("npm scoped packument", "GET", "/npm/@acme%2fprivate-lib")
    await go("npm version", "GET", "/npm/is-number/7.0.0")
    await go("npm dist-tag", "GET", "/npm/is-number/latest")
    await go("npm missing", "GET", "/npm/no-such-package-here")
    await go("npm ping", "GET", "/npm/-/ping")
    await go("npm publish", "PUT", "/npm/is-number", content=b"{}")

    single, multi = SINGLE.digest, MULTI.digest
    child = next(d for d, p in MULTI.platforms.items() if p == "linux/arm64")
    layer = SINGLE.layers(SINGLE.top)[0]
    manifest = {"accept": OCI_MANIFEST}
    await go("oci ping", "GET", "/v2/")
    await go("oci manifest by tag", "GET", "/v2/open/single/manifests/1.0", headers=manifest)
    await go("oci manifest check by tag", "HEAD", "/v2/open/single/manifests/1.0", headers=manifest)
    await go("oci manifest by digest", "GET", f"/v2/open/single/manifests/{single}", headers=manifest)
    await go("oci index by tag", "GET", "/v2/open/multi/manifests/v1", headers={"accept": OCI_INDEX})
    await go("oci child manifest", "GET", f"/v2/open/multi/manifests/{child}", headers=manifest)
    assert multi != child
    assert (await go("oci blob", "GET", f"/v2/open/single/blobs/{layer}")).status_code == 307
    await go("oci missing blob", "GET", "/v2/open/single/blobs/sha256:" + "0" * 64)
    await go("oci missing tag", "GET", "/v2/open/single/manifests/nope", headers=manifest)
    await go("oci tags", "GET", "/v2/open/single/tags/list")
    await go("oci push", "PUT", "/v2/open/single/manifests/2.0", content=b"{}")

    await go("conda repodata", "GET", "/conda/main/noarch/repodata.json")
    await go("conda repodata zst", "GET", "/conda/main/noarch/repodata.json.zst")
    await go("conda shard index", "GET", "/conda/main/noarch/repodata_shards.msgpack.zst")
    assert (await go("conda file", "GET", "/conda/main/noarch/acme-lib-1.2.0-0.conda")).status_code == 302
    await go("conda tar.bz2", "GET", "/conda/main/noarch/tool-x-2.0.1-0.tar.bz2")
    await go("conda check", "HEAD", "/conda/main/noarch/tool-x-2.0.1-0.tar.bz2")
    await go("conda missing", "GET", "/conda/main/linux-64/gone-1.0-0.conda")
    await go("conda not a path", "GET", "/conda/main/noarch/readme.txt")
    await go("conda write", "POST", "/conda/main/noarch/repodata.json", content=b"{}")

    assert (await go("files", "GET", "/dl/Tool/1.4.0/tool-1.4.0.tar.gz")).status_code == 302
    await go("files outside the patterns", "GET", "/dl/Tool/9.0/tool-9.0.tar.gz")
    return labels


def _line(n: int, method: str, path: str, status: int) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(time.time() - 3600 + n))
    return f'127.0.0.9 - - [{stamp}] "{method} {path} HTTP/1.1" {status} 0 "-" "agree/1.0"\n'


def _ingested(tmp: Path, name: str, lines: list[str]) -> list[dict[str, Any]]:
    log = tmp / f"{name}.log"
    log.write_text("".join(lines))
    cfg = Config(storage=Storage(data_dir=str(tmp / name)))
    summary = ingest(cfg, [str(log)], Options(jobs=1, strict=True))
    assert (summary.events, summary.rejected) == (len(lines), {})
    con = duckdb.connect(str(cfg.data_dir / "pkgate.duckdb"), read_only=True)
    try:
        cur = con.execute(f"SELECT {', '.join(FIELDS)}, status FROM events ORDER BY ts")  # noqa: S608
        return [dict(zip([*FIELDS, "status"], row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def _served(event: Event) -> int:
    """The status of the registry that answered itself: a file or blob sent is a 200."""
    redirected = 300 <= event.status < 400
    return 200 if redirected and event.kind in ("file", "blob", "metadata") else event.status


async def test_ingested_log_events_are_the_gateways(
    gateway: tuple[httpx.AsyncClient, ASGIApp], tmp_path: Path
) -> None:
    client, app = gateway
    labels = await _requests(client)
    events = [decode(p) for _, p in iter_all(app.worker.cfg.paths.spool)]
    assert len(events) == len(labels)
    by_kind = {(e.ecosystem, e.kind) for e in events}
    assert {("npm", "file"), ("oci", "manifest"), ("oci", "blob"), ("conda", "file")} <= by_kind
    front = [_line(n, e.method, e.path, e.status) for n, e in enumerate(events)]
    served = [_line(n, e.method, e.path, _served(e)) for n, e in enumerate(events)]
    assert front != served  # the files and blobs
    for log, lines in (("front", front), ("served", served)):
        rows = _ingested(tmp_path, log, lines)
        for label, event, row in zip(labels, events, rows, strict=True):
            want = {f: getattr(event, f) for f in (*FIELDS, "status")}
            differ = {f for f in want if want[f] != row[f]}
            assert differ == BLIND.get(label, set()), f"{log}: {label}: gateway {want}, ingest {row}"
