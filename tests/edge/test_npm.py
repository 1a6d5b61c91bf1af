"""The npm ecosystem in-process, against real verdaccio registries (tests/support/npm_registry.py).

`public` holds real packages from the npm registry and the bait `@acme/private-lib` 9.9.9;
`private` (token only) holds the real `@acme/private-lib` 1.0.0. The gateway routes `@acme/*`
to `private` alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgate import config
from pkgate.edge.app import ASGIApp
from pkgate.edge.links import LinkSigner
from pkgate.edge.npm import NpmEcosystem
from pkgate.events import Event, decode
from pkgate.events.spool import iter_all
from tests.support.npm_registry import Registries

ABBREVIATED = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
SECRET = "npm-test-secret-0123456789"
DEAD = "http://127.0.0.1:9/"

Start = Callable[..., Awaitable[tuple[httpx.AsyncClient, ASGIApp]]]


def npm_config(reg: Registries, tmp: Path, extra: str = "", private: str | None = None) -> str:
    return (
        f'[gateway]\nsecret = "{SECRET}"\ncache_ttl = 0\ndefault_upstream = ""\n'
        f'[storage]\ndata_dir = "{tmp / "data"}"\n'
        f'[upstreams.public]\nurl = "{reg.public.url}"\necosystem = "npm"\n'
        f'[upstreams.acme]\nurl = "{private or reg.private.url}"\necosystem = "npm"\nmode = "proxy"\n'
        'token_env = "ACME_TOKEN"\nauthoritative = true\n'
        f'[upstreams.dead]\nurl = "{DEAD}"\necosystem = "npm"\n'
        '[npm]\ndefault_upstream = "public"\n'
        '[[routing.rules]]\necosystem = "npm"\nprojects = ["@acme/*"]\nupstreams = ["acme"]\n' + extra
    )


@pytest.fixture
async def start(
    tmp_path: Path, npm_registries: Registries, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Start]:
    monkeypatch.setenv("ACME_TOKEN", npm_registries.private.token)
    apps: list[ASGIApp] = []
    clients: list[httpx.AsyncClient] = []

    async def run(text: str) -> tuple[httpx.AsyncClient, ASGIApp]:
        path = tmp_path / "pkgate.toml"
        path.write_text(text)
        app = ASGIApp(config.load(path), source=str(path))
        await app.worker.start()
        app.gateway = app.worker.gateway
        apps.append(app)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.9", 1234)), base_url="http://gw.test"
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


def tarballs(doc: dict[str, Any]) -> dict[str, str]:
    return {v: m["dist"]["tarball"] for v, m in doc["versions"].items()}


def without_tarballs(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(doc))
    for m in out["versions"].values():
        m["dist"].pop("tarball")
    return out


async def packument(client: httpx.AsyncClient, name: str, accept: str = "application/json") -> httpx.Response:
    return await client.get(f"/npm/{name}", headers={"accept": accept})


@pytest.mark.parametrize("accept", ["application/json", ABBREVIATED])
async def test_packument_changes_only_tarball_urls(
    start: Start, npm_registries: Registries, tmp_path: Path, accept: str
) -> None:
    client, app = await start(npm_config(npm_registries, tmp_path))
    upstream = httpx.get(npm_registries.public.url + "chalk", headers={"accept": accept}).json()
    r = await packument(client, "chalk", accept)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(
        "application/vnd.npm.install-v1+json" if accept == ABBREVIATED else "application/json"
    )
    doc = r.json()
    assert without_tarballs(doc) == without_tarballs(upstream)
    assert list(doc) == list(upstream)  # key order kept
    assert doc["versions"]["4.1.2"]["dist"]["integrity"] == upstream["versions"]["4.1.2"]["dist"]["integrity"]
    link = tarballs(doc)["4.1.2"]
    assert link.startswith("http://gw.test/npm/chalk/-/")
    assert link.endswith("/chalk-4.1.2.tgz")
    got = await client.get(link.removeprefix("http://gw.test"))
    assert got.status_code == 302
    assert got.headers["location"] == tarballs(upstream)["4.1.2"]  # exactly what the upstream listed
    # The redirect really leads to the published tarball.
    assert httpx.get(got.headers["location"]).content == npm_registries.tarballs["chalk@4.1.2"].read_bytes()
    evs = [(e.ecosystem, e.kind, e.project, e.version, e.filename, e.upstream, e.status) for e in events(app)]
    assert evs == [
        ("npm", "index-project", "chalk", None, None, "public", 200),
        ("npm", "file", "chalk", "4.1.2", "chalk-4.1.2.tgz", "public", 302),
    ]


async def test_etag_revalidation_is_a_304(start: Start, npm_registries: Registries, tmp_path: Path) -> None:
    client, app = await start(npm_config(npm_registries, tmp_path))
    first = await packument(client, "has-flag")
    etag = first.headers["etag"]
    again = await client.get("/npm/has-flag", headers={"accept": "application/json", "if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    changed = await client.get(
        "/npm/has-flag", headers={"accept": "application/json", "if-none-match": '"x"'}
    )
    assert changed.status_code == 200
    assert [(e.status, e.conditional) for e in events(app)] == [(200, False), (304, True), (200, True)]


@pytest.mark.parametrize("spelling", ["@acme%2fprivate-lib", "@acme%2Fprivate-lib", "@acme/private-lib"])
async def test_scoped_package_comes_from_its_private_registry_only(
    start: Start, npm_registries: Registries, tmp_path: Path, spelling: str
) -> None:
    client, app = await start(npm_config(npm_registries, tmp_path))
    r = await packument(client, spelling)
    assert r.status_code == 200
    doc = r.json()
    assert list(doc["versions"]) == ["1.0.0"]  # never the public bait 9.9.9
    assert doc["versions"]["1.0.0"]["dependencies"] == {"is-number": "^7.0.0"}
    # The private registry needs the token: the tarball is streamed through, never redirected.
    link = tarballs(doc)["1.0.0"].removeprefix("http://gw.test")
    assert link.startswith("/npm/@acme/private-lib/-/")
    got = await client.get(link)
    assert got.status_code == 200
    assert got.content == npm_registries.tarballs["@acme/private-lib@1.0.0"].read_bytes()
    assert "authorization" not in {k.lower() for k in got.headers}
    evs = [(e.kind, e.project, e.version, e.upstream, e.status) for e in events(app)]
    assert evs == [
        ("index-project", "@acme/private-lib", None, "acme", 200),
        ("file", "@acme/private-lib", "1.0.0", "acme", 200),
    ]


async def test_claimed_scope_never_falls_through_to_the_public_registry(
    start: Start, npm_registries: Registries, tmp_path: Path
) -> None:
    """Dependency confusion: the private registry is down or lacks a name; the public bait stays out."""
    client, _ = await start(npm_config(npm_registries, tmp_path, private=DEAD))
    r = await packument(client, "@acme%2fprivate-lib")
    assert r.status_code == 502
    assert "9.9.9" not in r.text
    client2, _ = await start(npm_config(npm_registries, tmp_path))
    missing = await packument(client2, "@acme%2fnot-there")
    assert missing.status_code == 404


async def test_failover_and_stale(start: Start, npm_registries: Registries, tmp_path: Path) -> None:
    rule = '[[routing.rules]]\necosystem = "npm"\nprojects = ["is-*"]\nupstreams = ["dead", "public"]\n'
    client, app = await start(npm_config(npm_registries, tmp_path, rule))
    r = await packument(client, "is-number")
    assert r.status_code == 200
    assert r.json()["dist-tags"]["latest"] == "7.0.0"
    ev = events(app)[-1]
    assert (ev.upstream, ev.failover) == ("public", True)


async def test_version_documents_dist_tags_and_conventional_tarball_paths(
    start: Start, npm_registries: Registries, tmp_path: Path
) -> None:
    client, app = await start(npm_config(npm_registries, tmp_path))
    upstream = httpx.get(npm_registries.public.url + "is-number").json()
    six = (await client.get("/npm/is-number/6.0.0")).json()
    assert six["version"] == "6.0.0"
    assert six["dist"]["integrity"] == upstream["versions"]["6.0.0"]["dist"]["integrity"]
    assert six["dist"]["tarball"].startswith("http://gw.test/npm/is-number/-/")
    latest = (await client.get("/npm/is-number/latest")).json()
    assert latest["version"] == "7.0.0"
    assert (await client.get("/npm/is-number/9.9.9")).status_code == 404
    tags = await client.get("/npm/-/package/is-number/dist-tags")
    assert tags.json() == upstream["dist-tags"]
    conventional = await client.get("/npm/is-number/-/is-number-6.0.0.tgz")
    assert conventional.status_code == 302
    assert conventional.headers["location"] == upstream["versions"]["6.0.0"]["dist"]["tarball"]
    assert (await client.get("/npm/is-number/-/is-number-1.0.0.tgz")).status_code == 404
    evs = [(e.kind, e.version, e.status) for e in events(app)]
    assert evs == [
        ("index-project", "6.0.0", 200),
        ("index-project", "7.0.0", 200),
        ("index-project", None, 404),
        ("index-project", None, 200),
        ("file", "6.0.0", 302),
        ("file", None, 404),
    ]


async def test_endpoints_pkgate_does_not_serve(
    start: Start, npm_registries: Registries, tmp_path: Path
) -> None:
    client, app = await start(npm_config(npm_registries, tmp_path))
    audit = await client.post("/npm/-/npm/v1/security/advisories/bulk", json={"chalk": ["4.1.2"]})
    assert audit.status_code == 404
    assert "security advisories" in audit.json()["error"]
    assert (await client.put("/npm/chalk", json={})).status_code == 405  # publish
    assert (await client.put("/npm/-/user/org.couchdb.user:x", json={})).status_code == 405  # login
    assert (await client.get("/npm/-/whoami")).status_code == 404
    assert (await client.get("/npm/-/v1/search?text=chalk")).status_code == 404
    ping = await client.get("/npm/-/ping")
    assert (ping.status_code, ping.json()) == (200, {})
    assert (await client.get("/npm/no%20such")).status_code == 404
    assert (await client.get("/npm/chalk", headers={"host": "evil\r\nx: y"})).status_code == 400
    assert {e.ecosystem for e in events(app)} == {"npm"}


async def test_npm_command_header_and_signed_links_for_good(
    start: Start, npm_registries: Registries, tmp_path: Path
) -> None:
    """A link from an old lock file still verifies after the secret is rotated (retired secret)."""
    old = LinkSigner(b"the-old-secret-0123456789")
    upstream = httpx.get(npm_registries.public.url + "has-flag").json()
    url = upstream["versions"]["4.0.0"]["dist"]["tarball"]
    token = old.token("has-flag", "has-flag-4.0.0.tgz", f"public 4.0.0 {url}")
    link = f"/npm/has-flag/-/{token}/has-flag-4.0.0.tgz"
    client, _ = await start(npm_config(npm_registries, tmp_path))
    assert (await client.get(link)).status_code == 404  # not this gateway's secret
    text = npm_config(npm_registries, tmp_path).replace(
        "cache_ttl = 0\n", 'cache_ttl = 0\nretired_secrets = ["the-old-secret-0123456789"]\n'
    )
    client, app = await start(text)
    got = await client.get(link, headers={"npm-command": "ci"})
    assert (got.status_code, got.headers["location"]) == (302, url)
    again = await client.get(link, headers={"npm-command": "install"})  # the memoised path
    assert again.status_code == 302
    assert [(e.version, e.command) for e in events(app)[-2:]] == [("4.0.0", "ci"), ("4.0.0", "install")]


async def test_npm_not_configured_claims_nothing(tmp_path: Path, start: Start) -> None:
    client, app = await start(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    r = await client.get("/npm/chalk")
    assert r.status_code == 404
    assert [(e.ecosystem, e.kind) for e in events(app)] == [("gateway", "other")]


def go_away(app: ASGIApp, upstream: str) -> None:
    """The upstream stops answering: its client now points at a closed port (as the Python test)."""
    assert app.gateway is not None
    npm = app.gateway.ecosystems["npm"]
    assert isinstance(npm, NpmEcosystem)
    npm.handles[upstream].client.base_url = DEAD


async def test_stale_on_error_and_claimed_names_stay_private(
    start: Start, npm_registries: Registries, tmp_path: Path
) -> None:
    """A warmed packument is served stale, and says so, when its upstream goes away; a claimed
    name the cache never held is a 502 then, never the public registry's bait."""
    client, app = await start(npm_config(npm_registries, tmp_path))  # cache_ttl 0: always revalidate
    warm = await packument(client, "@acme%2fprivate-lib")
    public = await packument(client, "chalk")
    assert [warm.headers["x-pkgate-cache"], public.headers["x-pkgate-cache"]] == ["miss", "miss"]
    assert "warning" not in warm.headers
    go_away(app, "acme")  # the public registry, which has the 9.9.9 bait, stays up
    stale = await packument(client, "@acme%2fprivate-lib")
    assert stale.status_code == 200
    assert stale.headers["x-pkgate-cache"] == "stale"
    assert stale.headers["warning"] == '110 - "Response is Stale"'
    assert stale.content == warm.content  # the same signed tarball links
    assert list(stale.json()["versions"]) == ["1.0.0"]
    version = await client.get("/npm/@acme%2fprivate-lib/1.0.0")  # from the stale full packument
    assert (version.status_code, version.json()["version"]) == (200, "1.0.0")
    # Never held: the abbreviated packument (a separate document), and another name in the scope.
    for name, accept in [("@acme%2fprivate-lib", ABBREVIATED), ("@acme%2fother", "application/json")]:
        r = await packument(client, name, accept)
        assert r.status_code == 502
        assert "9.9.9" not in r.text
    assert (await packument(client, "chalk")).headers["x-pkgate-cache"] == "revalidated"
    go_away(app, "public")
    chalk = await packument(client, "chalk")
    assert (chalk.status_code, chalk.headers["x-pkgate-cache"]) == (200, "stale")
    assert chalk.content == public.content
    assert "110" in chalk.headers["warning"]
    evs = [(e.project, e.upstream, e.status, e.cache) for e in events(app)]
    assert evs == [
        ("@acme/private-lib", "acme", 200, "miss"),
        ("chalk", "public", 200, "miss"),
        ("@acme/private-lib", "acme", 200, "stale"),
        ("@acme/private-lib", "acme", 200, "stale"),
        ("@acme/private-lib", None, 502, None),
        ("@acme/other", None, 502, None),
        ("chalk", "public", 200, "revalidated"),
        ("chalk", "public", 200, "stale"),
    ]


async def test_stale_copies_expire(start: Start, npm_registries: Registries, tmp_path: Path) -> None:
    """Past `stale_ttl` (here 0) a failing upstream is a 502: old copies are not served forever."""
    text = npm_config(npm_registries, tmp_path).replace("cache_ttl = 0\n", "cache_ttl = 0\nstale_ttl = 0\n")
    client, app = await start(text)
    assert (await packument(client, "has-flag")).status_code == 200
    go_away(app, "public")
    r = await packument(client, "has-flag")
    assert r.status_code == 502
    assert "x-pkgate-cache" not in r.headers
