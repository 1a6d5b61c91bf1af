"""Routing through the in-process gateway, against real static upstreams on loopback ports.

`private` has more-itertools 10.2.0 (and tomli, six); `public` has everything else plus a newer
more-itertools 10.3.0, the bait of a dependency-confusion attack. `AuthIndex` is a private index
that answers 401 without basic auth and honours `Range` on files, for proxy mode.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from pkgate import config
from pkgate.edge.app import ASGIApp
from pkgate.edge.breaker import OPEN
from pkgate.events import Event, decode
from pkgate.events.spool import iter_all
from tests.e2e.upstreams import Request, StaticIndex, build_static_index, read_dists

REPO = Path(__file__).resolve().parents[2]
DISTS = REPO / ".cache" / "test-dists"
JSON = "application/vnd.pypi.simple.v1+json"
TOKEN = "admin-token-0123456789"
DEAD = "http://127.0.0.1:9/simple/"  # nothing listens on the discard port: connection refused
USER, PASSWORD = "deploy", "pa55-w0rd-for-the-private-index"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class AuthIndex(StaticIndex):
    """A StaticIndex behind basic auth, with `Range` support on files (what proxy mode relays)."""

    def __init__(self, root: Path, authorization: str = AUTH) -> None:
        self.authorization = authorization
        super().__init__(root)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        base = super()._handler_class()
        index = self

        class Handler(base):  # type: ignore[valid-type,misc]
            def _answer(self, head: bool) -> None:
                if self.headers["Authorization"] != index.authorization:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="private"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                match = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers["Range"] or "")
                target = index.root / "files" / self.path.removeprefix("/files/")
                if match and self.path.startswith("/files/") and target.is_file():
                    data = target.read_bytes()
                    start, end = int(match[1]), min(int(match[2]), len(data) - 1)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                    self.send_header("Content-Length", str(end - start + 1))
                    self.end_headers()
                    if not head:
                        self.wfile.write(data[start : end + 1])
                    return
                super()._answer(head)

        return Handler


def _index(tmp: Path, names: set[str], skip: set[str] = frozenset()) -> Path:  # type: ignore[assignment]
    subprocess.run([sys.executable, str(REPO / "scripts" / "fetch-test-wheels"), str(DISTS)], check=True)
    dists = [d for d in read_dists(DISTS) if d.project in names and d.filename not in skip]
    build_static_index(dists, tmp)
    return tmp


ALL = {"six", "more-itertools", "jaraco-functools", "flit-core", "tomli"}


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, StaticIndex]]:
    mk = tmp_path_factory.mktemp
    servers = {
        "private": StaticIndex(
            _index(
                mk("private"), {"more-itertools", "tomli", "six"}, {"more_itertools-10.3.0-py3-none-any.whl"}
            )
        ),
        "public": StaticIndex(_index(mk("public"), ALL - {"tomli"})),
        "mirror": StaticIndex(_index(mk("mirror"), ALL)),
        "auth": AuthIndex(_index(mk("auth"), {"six", "more-itertools"})),
    }
    for s in servers.values():
        s.start()
    yield servers
    for s in servers.values():
        s.stop()


Client = tuple[httpx.AsyncClient, ASGIApp]
Indexes = dict[str, StaticIndex]
Start = Callable[..., Awaitable[Client]]


def config_text(indexes: dict[str, StaticIndex], body: str, tmp: Path, default: str = "public") -> str:
    ups = "".join(f'[upstreams.{n}]\nurl = "{s.simple_url}"\n' for n, s in indexes.items() if n != "auth")
    return (
        f'[gateway]\nsecret = "routing-test-secret-0123456789"\nadmin_token = "{TOKEN}"\n'
        f'default_upstream = "{default}"\n'
        f'cache_ttl = 0\n[storage]\ndata_dir = "{tmp / "data"}"\n[upstreams.dead]\nurl = "{DEAD}"\n'
        f"[routing]\nbreaker_threshold = 2\nbreaker_cooldown = 60\n{ups}{body}"
    )


@pytest.fixture
async def start(
    tmp_path: Path, indexes: dict[str, StaticIndex], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Start]:
    monkeypatch.setenv("PRIV_USER", USER)
    monkeypatch.setenv("PRIV_PASS", PASSWORD)
    apps: list[ASGIApp] = []
    clients: list[httpx.AsyncClient] = []

    async def run(body: str, default: str = "public") -> Client:
        path = tmp_path / "pkgate.toml"
        path.write_text(config_text(indexes, body, tmp_path, default))
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


def asked(index: StaticIndex, since: int, needle: str) -> list[Request]:
    return [r for r in index.requests(since) if needle in r.path]


PRIVATE_RULE = '[[routing.rules]]\nprojects = ["more_itertools", "tom*"]\nupstreams = ["private"]\n'
AUTH_UPSTREAM = """
[upstreams.auth]
url = "{url}"
mode = "proxy"
username_env = "PRIV_USER"
password_env = "PRIV_PASS"
[[routing.rules]]
projects = ["six", "more-itertools"]
upstreams = ["auth"]
"""


async def page(client: httpx.AsyncClient, name: str) -> httpx.Response:
    return await client.get(f"/simple/{name}/", headers={"accept": JSON})


async def test_claimed_project_never_asks_the_public_upstream(start: Start, indexes: Indexes) -> None:
    client, app = await start(PRIVATE_RULE)
    mark = indexes["public"].mark()
    r = await page(client, "more-itertools")
    assert r.status_code == 200
    files = [f["filename"] for f in r.json()["files"]]
    assert files == ["more_itertools-10.2.0-py3-none-any.whl"]  # not the public 10.3.0
    loc = (await client.get(r.json()["files"][0]["url"])).headers["location"]
    assert loc.startswith(indexes["private"].url)
    assert (await page(client, "tomli")).status_code == 200  # pattern tom*
    assert (await page(client, "six")).status_code == 200  # unclaimed: default upstream
    assert asked(indexes["public"], mark, "more-itertools") == []
    assert asked(indexes["public"], mark, "tomli") == []
    assert asked(indexes["public"], mark, "/six/") != []
    evs = [(e.kind, e.project, e.upstream, e.failover) for e in events(app)]
    assert evs == [
        ("index-project", "more-itertools", "private", False),
        ("file", "more-itertools", "private", False),
        ("index-project", "tomli", "private", False),
        ("index-project", "six", "public", False),
    ]


async def test_claimed_but_missing_is_404_not_public(start: Start, indexes: Indexes) -> None:
    client, _ = await start('[[routing.rules]]\nprojects = ["flit-core"]\nupstreams = ["private"]\n')
    mark = indexes["public"].mark()
    assert (await page(client, "flit-core")).status_code == 404
    assert asked(indexes["public"], mark, "flit-core") == []


async def test_no_default_upstream(start: Start, indexes: Indexes) -> None:
    client, app = await start(PRIVATE_RULE, default="")
    marks = {n: s.mark() for n, s in indexes.items()}
    r = await page(client, "six")
    assert r.status_code == 404
    assert "no route" in r.text
    assert all(s.requests(marks[n]) == [] for n, s in indexes.items())
    miss = events(app)[-1]
    assert (miss.kind, miss.project, miss.status, miss.upstream) == ("index-miss", "six", 404, None)
    assert (await page(client, "more-itertools")).status_code == 200
    root = (await client.get("/simple/", headers={"accept": JSON})).json()
    assert sorted(p["name"] for p in root["projects"]) == ["more-itertools", "tomli"]  # not six
    assert events(app)[-1].upstream == "private"


async def test_root_lists_what_the_routes_allow(start: Start, indexes: Indexes) -> None:
    client, app = await start('[[routing.rules]]\nprojects = ["more-itertools"]\nupstreams = ["private"]\n')
    root = (await client.get("/simple/", headers={"accept": JSON})).json()
    names = [p["name"] for p in root["projects"]]
    # tomli is only on `private`, but unclaimed projects route to `public`, which lacks it
    assert names == ["flit-core", "jaraco-functools", "more-itertools", "six"]
    assert events(app)[-1].upstream == "private,public"


async def test_failover_breaker_and_metrics(start: Start, indexes: Indexes) -> None:
    client, app = await start('[[routing.rules]]\nprojects = ["*"]\nupstreams = ["dead", "mirror"]\n')
    for name in ("six", "tomli", "flit-core"):
        r = await page(client, name)
        assert r.status_code == 200
    evs = events(app)
    assert [(e.upstream, e.failover) for e in evs] == [("mirror", True)] * 3
    dead = app.worker.gateway.ecosystems["python"].table.upstreams["dead"].client  # type: ignore[union-attr]
    assert dead.breaker.state == OPEN
    assert dead.requests == 2  # threshold 2: the third request skipped it at once
    metrics = (await client.get("/metrics")).text
    assert 'pkgate_upstream_breaker_state{upstream="dead"} 2' in metrics
    assert 'pkgate_upstream_up{upstream="dead"} 0' in metrics
    assert 'pkgate_upstream_up{upstream="mirror"} 1' in metrics
    assert 'pkgate_failovers_total{primary="dead",upstream="mirror"} 3' in metrics
    root = await client.get("/simple/")
    assert root.status_code == 200
    assert events(app)[-1].failover


async def test_authoritative_404_and_failures_never_become_404(
    start: Start, indexes: Indexes, tmp_path: Path
) -> None:
    body = (
        '[[routing.rules]]\nprojects = ["flit-core"]\nupstreams = ["private", "mirror"]\n'
        '[[routing.rules]]\nprojects = ["jaraco-functools"]\nupstreams = ["dead", "private"]\n'
    )
    client, app = await start(body)
    # private lacks flit-core and is not authoritative: the mirror answers
    r = await page(client, "flit-core")
    assert r.status_code == 200
    assert events(app)[-1].upstream == "mirror"
    # dead fails, private says 404: unknown, so 502 rather than a false "no such project"
    assert (await page(client, "jaraco-functools")).status_code == 502
    text = (
        (tmp_path / "pkgate.toml")
        .read_text()
        .replace(
            f'[upstreams.private]\nurl = "{indexes["private"].simple_url}"\n',
            f'[upstreams.private]\nurl = "{indexes["private"].simple_url}"\nauthoritative = true\n',
        )
    )
    (tmp_path / "pkgate.toml").write_text(text)
    assert (await reload(client)).status_code == 200
    mark = indexes["mirror"].mark()
    assert (await page(client, "flit-core")).status_code == 404  # authoritative: final
    assert asked(indexes["mirror"], mark, "flit-core") == []
    assert (await page(client, "jaraco-functools")).status_code == 404  # dead failed, but private is sure


async def test_merge_route(start: Start, indexes: Indexes) -> None:
    body = (
        '[[routing.rules]]\nprojects = ["more-itertools"]\nupstreams = ["private", "public"]\nmerge = true\n'
    )
    client, app = await start(body)
    r = await page(client, "more-itertools")
    files = {f["filename"]: f["url"] for f in r.json()["files"]}
    assert sorted(files) == [
        "more_itertools-10.2.0-py3-none-any.whl",
        "more_itertools-10.3.0-py3-none-any.whl",
    ]
    old = (await client.get(files["more_itertools-10.2.0-py3-none-any.whl"])).headers["location"]
    new = (await client.get(files["more_itertools-10.3.0-py3-none-any.whl"])).headers["location"]
    assert old.startswith(indexes["private"].url)  # the earlier upstream wins a clash
    assert new.startswith(indexes["public"].url)
    assert events(app)[0].upstream == "private+public"


async def test_stale_when_every_upstream_fails(start: Start, indexes: Indexes) -> None:
    client, app = await start('[[routing.rules]]\nprojects = ["six"]\nupstreams = ["mirror", "public"]\n')
    assert (await page(client, "six")).status_code == 200
    table = app.worker.gateway.ecosystems["python"].table  # type: ignore[union-attr]
    for name in ("mirror", "public"):
        table.upstreams[name].client.base_url = DEAD
    r = await page(client, "six")
    assert r.status_code == 200
    assert r.headers["x-pkgate-cache"] == "stale"
    assert (await page(client, "flit-core")).status_code == 502  # public (default) dead, never cached


async def reload(client: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    return await client.post("/admin/reload", headers={"authorization": f"Bearer {token}"})


async def test_admin_reload(start: Start, indexes: Indexes, tmp_path: Path) -> None:
    client, app = await start("")
    assert (await page(client, "tomli")).status_code == 404  # public lacks it
    assert (await client.post("/admin/reload")).status_code == 401
    assert (await reload(client, "wrong-token-0123456789")).status_code == 403
    assert (
        await client.get("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"})
    ).status_code == 405
    path = tmp_path / "pkgate.toml"
    good = path.read_text()
    path.write_text(good + PRIVATE_RULE + '[[routing.rules]]\nprojects = ["x"]\nupstreams = ["nope"]\n')
    r = await reload(client)
    assert r.status_code == 400
    assert r.json()["status"] == "rejected"
    assert f"{path}: routing.rules[1].upstreams: 'nope'" in r.json()["error"]
    assert (await page(client, "tomli")).status_code == 404  # the old config stays
    path.write_text(good + PRIVATE_RULE)
    r = await reload(client)
    assert r.status_code == 200
    assert r.json()["generation"] == 1
    assert (await page(client, "tomli")).status_code == 200
    kinds = [(e.kind, e.path, e.status) for e in events(app) if e.path == "/admin/reload"]
    assert [k[2] for k in kinds] == [401, 403, 405, 400, 200]  # the audit trail: kind "other"
    assert {k[0] for k in kinds} == {"other"}
    metrics = (await client.get("/metrics")).text
    assert 'pkgate_config_reloads_total{result="rejected"} 1' in metrics
    assert "pkgate_config_generation 1" in metrics


async def test_admin_disabled_without_token(start: Start, tmp_path: Path) -> None:
    client, _ = await start("")
    path = tmp_path / "pkgate.toml"
    path.write_text(path.read_text().replace(f'admin_token = "{TOKEN}"', 'admin_token = ""'))
    assert (await reload(client)).status_code == 200
    assert (await reload(client)).status_code == 404


async def test_proxy_mode_with_credentials(start: Start, indexes: Indexes) -> None:
    auth = indexes["auth"]
    client, app = await start(AUTH_UPSTREAM.format(url=auth.simple_url))
    r = await page(client, "six")
    assert r.status_code == 200
    f = r.json()["files"][0]
    assert PASSWORD not in r.text
    assert USER not in r.text
    data = (DISTS / f["filename"]).read_bytes()
    got = await client.get(f["url"])
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["x-pkgate-upstream"] == "auth"
    assert "www-authenticate" not in got.headers
    part = await client.get(f["url"], headers={"range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == data[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(data)}"
    head = await client.head(f["url"])
    assert head.status_code == 200
    assert head.content == b""
    meta = await client.get(page_url := f["url"] + ".metadata")
    assert meta.status_code == 200
    assert meta.content.startswith(b"Metadata-Version")
    assert page_url.endswith(".metadata")
    evs = [(e.kind, e.status, e.upstream, e.partial) for e in events(app)]
    assert evs[1:] == [
        ("file", 200, "auth", False),
        ("file", 206, "auth", True),
        ("file", 200, "auth", False),
        ("metadata", 200, "auth", False),
    ]
    blob = json.dumps([str(e) for e in events(app)])
    assert PASSWORD not in blob
    assert all(r.status == 200 or r.status == 206 for r in auth.requests())  # never a 401


async def test_proxy_mode_wrong_credentials_is_502(
    start: Start, indexes: Indexes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIV_PASS", "wrong")
    client, _ = await start(AUTH_UPSTREAM.format(url=indexes["auth"].simple_url))
    r = await page(client, "six")
    assert r.status_code == 502  # a 401 upstream is a failure, never a 404


async def test_missing_credential_variable_fails_start(
    start: Start, indexes: Indexes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRIV_PASS")
    with pytest.raises(config.ConfigError, match="PRIV_PASS is not set"):  # type: ignore[attr-defined]
        await start(AUTH_UPSTREAM.format(url=indexes["auth"].simple_url))


async def test_reload_without_credential_variable_keeps_old_config(
    start: Start, indexes: Indexes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    client, _ = await start(AUTH_UPSTREAM.format(url=indexes["auth"].simple_url))
    monkeypatch.delenv("PRIV_PASS")
    r = await reload(client)
    assert r.status_code == 400
    assert r.json()["error"].startswith(f"{tmp_path / 'pkgate.toml'}: upstreams.auth.password_env")
    assert "PRIV_PASS is not set" in r.json()["error"]
    assert (await page(client, "six")).status_code == 200  # still the old table, credentials and all


async def test_reload_refuses_restart_only_keys(start: Start, tmp_path: Path) -> None:
    client, _ = await start("")
    path = tmp_path / "pkgate.toml"
    path.write_text(path.read_text().replace('data_dir = "', 'data_dir = "/elsewhere'))
    r = await reload(client)
    assert r.status_code == 400
    assert "storage: cannot change while running" in r.json()["error"]
    assert (await page(client, "six")).status_code == 200
