"""The conda ecosystem through the in-process gateway, against real static channels.

`public` hosts channel `main` with tool-x 2.0.1 (a .tar.bz2) and the bait acme-lib 9.9.9;
`private` hosts channel `main` with acme-lib 1.2.0 (a .conda, depends on tool-x). Both are built
by py-rattler-build and indexed by py-rattler's indexer (repodata.json, .zst, CEP-16 shards).
`based` hosts a channel whose repodata sets an absolute CEP-15 `base_url` to a `pool/`.
"""

from __future__ import annotations

import bz2
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
import zstandard

from pkgate import config
from pkgate.edge.app import ASGIApp
from pkgate.events import Event, decode
from pkgate.events.spool import iter_all
from tests.support.conda_channel import ChannelServer, Pkg, build_channel

PUBLIC = [Pkg("tool-x", "2.0.1", format="tar.bz2"), Pkg("acme-lib", "9.9.9")]
PRIVATE = [Pkg("acme-lib", "1.2.0", ("tool-x >=2",))]
SECURED_TOKEN = "conda-channel-token-0123456789"
ADMIN = "conda-admin-token-0123456789"
RULE = '[[routing.rules]]\necosystem = "conda"\nprojects = ["acme-*"]\nupstreams = ["private"]\n'


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ChannelServer]]:
    public = tmp_path_factory.mktemp("public")
    private = tmp_path_factory.mktemp("private")
    based = tmp_path_factory.mktemp("based")
    build_channel(public / "main", PUBLIC)
    build_channel(private / "main", PRIVATE)
    build_channel(based / "main", [Pkg("tool-x", "2.0.1")], shards=False)
    for root, packages in (
        (public, {"acme-lib": "9.9.9", "tool-x": "2.0.1"}),
        (private, {"acme-lib": "1.2.0"}),
    ):
        doc = {"channeldata_version": 1, "packages": {n: {"version": v} for n, v in packages.items()}}
        (root / "main" / "channeldata.json").write_text(json.dumps(doc))
    servers = {
        "public": ChannelServer(public),
        "private": ChannelServer(private),
        "based": ChannelServer(based),
        "secured": ChannelServer(private, token=SECURED_TOKEN),
    }
    for s in servers.values():
        s.start()
    # `based`: its files live in /pool/, its repodata says so (also in a .bz2; no .zst).
    noarch = based / "main" / "noarch"
    (based / "pool").mkdir()
    (noarch / "tool-x-2.0.1-0.conda").rename(based / "pool" / "tool-x-2.0.1-0.conda")
    doc = json.loads((noarch / "repodata.json").read_text())
    doc["info"]["base_url"] = servers["based"].url + "pool/"
    (noarch / "repodata.json").write_text(json.dumps(doc))
    (noarch / "repodata.json.bz2").write_bytes(bz2.compress(json.dumps(doc).encode()))
    (noarch / "repodata.json.zst").unlink()
    yield servers
    for s in servers.values():
        s.stop()


Hosts = dict[str, ChannelServer]
Start = Callable[..., Awaitable[tuple[httpx.AsyncClient, ASGIApp]]]


@pytest.fixture
async def start(tmp_path: Path, hosts: Hosts) -> AsyncIterator[Start]:
    apps: list[ASGIApp] = []
    clients: list[httpx.AsyncClient] = []

    async def run(
        body: str = "", default: str = "public", conda: bool = True, ttl: int = 0
    ) -> tuple[httpx.AsyncClient, ASGIApp]:
        ups = "".join(
            f'[upstreams.{n}]\nurl = "{s.url}"\necosystem = "conda"\n'
            for n, s in hosts.items()
            if n != "secured"
        )
        text = (
            '[gateway]\nsecret = "conda-test-secret-0123456789"\ndefault_upstream = ""\n'
            f'cache_ttl = {ttl}\nadmin_token = "{ADMIN}"\n'
            f'[storage]\ndata_dir = "{tmp_path / "data"}"\n'
            + (f'[conda]\ndefault_upstream = "{default}"\n{ups}{body}' if conda else "")
        )
        path = tmp_path / "pkgate.toml"
        path.write_text(text)
        app = ASGIApp(config.load(path), source=str(path))
        await app.worker.start()
        app.gateway = app.worker.gateway
        apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.9", 1234)), base_url="http://gw"
        )
        clients.append(client)
        return client, app

    yield run
    for c in clients:
        await c.aclose()
    for a in apps:
        await a.worker.close()


def events(app: ASGIApp) -> list[Event]:
    return [decode(p) for _, p in iter_all(app.worker.cfg.paths.spool)]


def unzstd(body: bytes) -> object:
    with zstandard.ZstdDecompressor().stream_reader(body) as r:
        return msgspec.msgpack.decode(r.read())


def names(repodata: dict[str, dict[str, dict[str, str]]]) -> set[str]:
    return {
        f"{r['name']}={r['version']}"
        for key in ("packages", "packages.conda")
        for r in repodata[key].values()
    }


async def test_claimed_names_come_only_from_their_route(start: Start, hosts: Hosts) -> None:
    client, app = await start(RULE)
    mark = hosts["public"].mark()
    r = await client.get("/conda/main/noarch/repodata.json")
    assert r.status_code == 200
    assert names(r.json()) == {"acme-lib=1.2.0", "tool-x=2.0.1"}  # not the public acme-lib 9.9.9
    # A compressed form cannot be filtered cheaply: 404, the client falls back to the JSON.
    assert (await client.get("/conda/main/noarch/repodata.json.zst")).status_code == 404
    index = await client.get("/conda/main/noarch/repodata_shards.msgpack.zst")
    assert index.status_code == 200
    shards = unzstd(index.content)
    assert isinstance(shards, dict)
    assert sorted(shards["shards"]) == ["acme-lib", "tool-x"]
    assert shards["info"]["base_url"] == ""
    private_index = unzstd((hosts["private"].root / "main/noarch/repodata_shards.msgpack.zst").read_bytes())
    assert isinstance(private_index, dict)
    assert shards["shards"]["acme-lib"] == private_index["shards"]["acme-lib"]
    digest = shards["shards"]["acme-lib"].hex()
    shard = await client.get(f"/conda/main/noarch/shards/{digest}.msgpack.zst")
    assert shard.status_code == 200
    assert shard.content == (hosts["private"].root / f"main/noarch/shards/{digest}.msgpack.zst").read_bytes()
    f = await client.get("/conda/main/noarch/acme-lib-1.2.0-0.conda")
    assert f.status_code == 302
    assert f.headers["location"] == hosts["private"].url + "main/noarch/acme-lib-1.2.0-0.conda"
    # The bait's file is claimed, and the private channel does not list it: 404, never public's.
    assert (await client.get("/conda/main/noarch/acme-lib-9.9.9-0.conda")).status_code == 404
    # A file no upstream lists is no download (the file is looked up in the package's shard).
    assert (await client.get("/conda/main/noarch/tool-x-9.9.9-0.conda")).status_code == 404
    tool = await client.get("/conda/main/noarch/tool-x-2.0.1-0.tar.bz2")
    assert tool.headers["location"] == hosts["public"].url + "main/noarch/tool-x-2.0.1-0.tar.bz2"
    channeldata = (await client.get("/conda/main/channeldata.json")).json()
    assert channeldata["packages"] == {"acme-lib": {"version": "1.2.0"}, "tool-x": {"version": "2.0.1"}}
    assert not [h for h in hosts["public"].hits(mark) if "acme" in h.path]
    evs = [
        (e.ecosystem, e.kind, e.project, e.version, e.filename, e.platform, e.upstream, e.status)
        for e in events(app)
    ]
    assert evs == [
        ("conda", "index-root", None, None, None, "noarch", "private,public", 200),
        ("conda", "index-root", None, None, None, "noarch", None, 404),
        ("conda", "index-root", None, None, None, "noarch", "private,public", 200),
        ("conda", "index-project", "acme-lib", None, None, "noarch", "private", 200),
        ("conda", "file", "acme-lib", "1.2.0", "acme-lib-1.2.0-0.conda", "noarch", "private", 302),
        ("conda", "file", "acme-lib", "9.9.9", "acme-lib-9.9.9-0.conda", "noarch", None, 404),
        ("conda", "file", "tool-x", "9.9.9", "tool-x-9.9.9-0.conda", "noarch", None, 404),
        ("conda", "file", "tool-x", "2.0.1", "tool-x-2.0.1-0.tar.bz2", "noarch", "public", 302),
        ("conda", "index-root", None, None, None, None, "private,public", 200),
    ]


async def test_plain_channel_is_passed_through_with_validators(start: Start, hosts: Hosts) -> None:
    client, app = await start()
    noarch = hosts["public"].root / "main" / "noarch"
    r = await client.get("/conda/main/noarch/repodata.json")
    assert r.content == (noarch / "repodata.json").read_bytes()
    zst = await client.get("/conda/main/noarch/repodata.json.zst")
    assert zst.status_code == 200
    assert zst.content == (noarch / "repodata.json.zst").read_bytes()
    again = await client.get("/conda/main/noarch/repodata.json", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304
    since = await client.get(
        "/conda/main/noarch/repodata.json", headers={"if-modified-since": r.headers["last-modified"]}
    )
    assert since.status_code == 304
    hosts["public"].failing = True
    try:
        stale = await client.get("/conda/main/noarch/repodata.json")
    finally:
        hosts["public"].failing = False
    assert stale.status_code == 200
    assert stale.headers["x-pkgate-cache"] == "stale"
    assert "warning" in stale.headers
    assert stale.content == r.content
    evs = [(e.kind, e.status, e.conditional, e.cache) for e in events(app)]
    assert evs == [
        ("index-root", 200, False, "miss"),
        ("index-root", 200, False, "miss"),
        ("index-root", 304, True, "revalidated"),
        ("index-root", 304, True, "revalidated"),
        ("index-root", 200, False, "stale"),
    ]


async def test_base_url_is_rewritten_and_remembered(start: Start, hosts: Hosts) -> None:
    client, _ = await start(default="based")
    r = await client.get("/conda/main/noarch/repodata.json")
    assert r.status_code == 200
    assert "base_url" not in r.json()["info"]
    assert names(r.json()) == {"tool-x=2.0.1"}
    # Its compressed form still names the real base: 404, so the client takes the JSON.
    assert (await client.get("/conda/main/noarch/repodata.json.bz2")).status_code == 404
    f = await client.get("/conda/main/noarch/tool-x-2.0.1-0.conda")
    assert f.headers["location"] == hosts["based"].url + "pool/tool-x-2.0.1-0.conda"
    # Listed in the repodata the gateway parsed, or not at all.
    assert (await client.get("/conda/main/noarch/tool-x-0.0.1-0.conda")).status_code == 404


async def test_names_no_route_serves_and_bad_paths(start: Start, hosts: Hosts) -> None:
    client, app = await start(RULE, default="")
    assert names((await client.get("/conda/main/noarch/repodata.json")).json()) == {"acme-lib=1.2.0"}
    miss = await client.get("/conda/main/noarch/tool-x-2.0.1-0.tar.bz2")
    assert miss.status_code == 404
    assert events(app)[-1].kind == "index-miss"
    for path in (
        "/conda/",
        "/conda/main/noarch/../../etc/passwd",
        "/conda/main/noarch/%2e%2e/x-1-0.conda",
        "/conda/main/noarch/not-a-package.txt",
        "/conda/main/NOARCH/repodata.json",
        "/conda/main/noarch/shards/abc.msgpack.zst",
        "/conda/a/b/c/d/e/noarch/repodata.json",
    ):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.post("/conda/main/noarch/repodata.json")).status_code == 405
    missing = await client.get("/conda/main/linux-64/repodata.json")
    assert missing.status_code == 404, missing.text  # no such subdir


async def test_no_conda_config_is_a_cheap_404(start: Start, hosts: Hosts) -> None:
    client, app = await start(conda=False)
    mark = hosts["public"].mark()
    r = await client.get("/conda/main/noarch/repodata.json")
    assert r.status_code == 404
    assert hosts["public"].hits(mark) == []
    assert events(app)[-1].ecosystem == "conda"


DEAD_RULE = (
    '[upstreams.dead]\nurl = "http://127.0.0.1:9/"\necosystem = "conda"\n'  # connection refused
    '[[routing.rules]]\necosystem = "conda"\nprojects = ["acme-*"]\nupstreams = ["dead", "private"]\n'
)


async def test_a_failing_private_part_fails_over_then_goes_stale_never_public(
    start: Start, hosts: Hosts
) -> None:
    client, app = await start(DEAD_RULE)
    r = await client.get("/conda/main/noarch/repodata.json")
    assert r.status_code == 200
    assert names(r.json()) == {"acme-lib=1.2.0", "tool-x=2.0.1"}
    hosts["private"].failing = True
    try:
        stale = await client.get("/conda/main/noarch/repodata.json")
        assert stale.status_code == 200
        assert stale.headers["x-pkgate-cache"] == "stale"
        assert names(stale.json()) == {"acme-lib=1.2.0", "tool-x=2.0.1"}
        # Nothing stale for the shard index: the private half is missing, so no answer (502),
        # never the public half alone.
        index = await client.get("/conda/main/noarch/repodata_shards.msgpack.zst")
        assert index.status_code == 502
    finally:
        hosts["private"].failing = False
    evs = [(e.status, e.cache, e.failover, e.upstream) for e in events(app)]
    assert evs == [
        (200, "miss", True, "private,public"),
        (200, "stale", True, "private,public"),
        (502, None, False, None),
    ]


SECURED = (
    '[upstreams.secured]\nurl = "{url}"\necosystem = "conda"\nmode = "proxy"\ntoken_env = "CONDA_TOKEN"\n'
    '[[routing.rules]]\necosystem = "conda"\nprojects = ["acme-lib"]\nupstreams = ["secured"]\n'
)


async def test_proxy_mode_streams_files_with_credentials_never_shown(
    start: Start, hosts: Hosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDA_TOKEN", SECURED_TOKEN)
    client, _ = await start(SECURED.format(url=hosts["secured"].url))
    mark = hosts["secured"].mark()
    r = await client.get("/conda/main/noarch/repodata.json")
    assert names(r.json()) == {"acme-lib=1.2.0", "tool-x=2.0.1"}
    f = await client.get("/conda/main/noarch/acme-lib-1.2.0-0.conda")
    assert f.status_code == 200
    assert "location" not in f.headers
    assert f.content == (hosts["private"].root / "main/noarch/acme-lib-1.2.0-0.conda").read_bytes()
    assert SECURED_TOKEN not in f.text
    hits = hosts["secured"].hits(mark)
    assert hits
    assert {h.status for h in hits} <= {200, 404}  # every request carried the token (no 401)


async def test_reload_keeps_the_caches_of_unchanged_upstreams(
    start: Start, hosts: Hosts, tmp_path: Path
) -> None:
    client, _ = await start(ttl=600)
    first = await client.get("/conda/main/noarch/repodata.json")
    assert first.headers["x-pkgate-cache"] == "miss"
    config_file = tmp_path / "pkgate.toml"
    config_file.write_text(config_file.read_text() + RULE)  # same upstreams, a rule added
    reload = await client.post("/admin/reload", headers={"authorization": f"Bearer {ADMIN}"})
    assert reload.status_code == 200, reload.text
    mark = {n: s.mark() for n, s in hosts.items()}
    after = await client.get("/conda/main/noarch/repodata.json")
    assert names(after.json()) == {"acme-lib=1.2.0", "tool-x=2.0.1"}  # the new rule applies
    assert hosts["public"].hits(mark["public"]) == []  # its copy was kept across the reload
    assert [h.path for h in hosts["private"].hits(mark["private"])] == ["/main/noarch/repodata.json"]
