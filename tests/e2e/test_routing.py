"""End to end routing: real `pkgate serve`, real pip and uv, upstreams on random loopback ports.

- dependency confusion: a project routed to a private index is never asked of the public one,
  even though the public one (a pypiserver) has a higher version;
- the primary dies mid-run: installs keep working from the secondary, events say so;
- every upstream down: cached pages are still served (stale);
- proxy mode: the private index wants basic auth; clients never see the credentials.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.edge.test_routing_gateway import PASSWORD, USER, AuthIndex

from .conftest import BIN, DISTS_DIR, Clients, Gateway, installed
from .upstreams import Dist, PypiServer, StaticIndex, build_static_index, free_port

pytestmark = pytest.mark.e2e

SECRET_LINE = 'secret = "routing-e2e-secret-0123456789"\n'


class RoutedGateway(Gateway):
    """`pkgate serve` with a config of the test's choosing (the base fixture has one upstream)."""

    def __init__(self, workdir: Path, body: str, env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(self.render(body, workers))
        self._launch(env)

    def render(self, body: str, workers: int = 1) -> str:
        return (
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\nworkers = {workers}\n'
            f'[storage]\ndata_dir = "{self.workdir / "data"}"\nload_interval = 0.2\n{body}'
        )

    def get(
        self, path: str, accept: str = "application/vnd.pypi.simple.v1+json"
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.direct_url + path, headers={"Accept": accept})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[list[RoutedGateway]]:
    started: list[RoutedGateway] = []
    yield started
    for gw in started:
        if gw.proc.poll() is None:
            gw.stop()


def static(tmp: Path, dists: list[Dist], keep: set[str], skip: frozenset[str] = frozenset()) -> StaticIndex:
    build_static_index([d for d in dists if d.project in keep and d.filename not in skip], tmp)
    return StaticIndex(tmp).start()


def pip_install(clients: Clients, gw: Gateway, venv: Path, *names: str) -> dict[str, str]:
    python = clients.fresh_venv(venv)
    done = clients.pip("install", "--index-url", gw.url, *names, python=python)
    assert done.returncode == 0, done.stderr
    return installed(python)


def test_dependency_confusion(
    tmp_path: Path, dists: list[Dist], pypiserver: PypiServer, clients: Clients, gateways: list[RoutedGateway]
) -> None:
    private = static(
        tmp_path / "private", dists, {"more-itertools"}, frozenset({"more_itertools-10.3.0-py3-none-any.whl"})
    )
    try:
        body = (
            f'[gateway]\n{SECRET_LINE}default_upstream = "public"\n'
            f'[upstreams.public]\nurl = "{pypiserver.simple_url}"\n'
            f'[upstreams.private]\nurl = "{private.simple_url}"\nauthoritative = true\n'
            '[[routing.rules]]\nprojects = ["more_itertools", "acme-*"]\nupstreams = ["private"]\n'
        )
        gw = RoutedGateway(tmp_path / "gw", body)
        gateways.append(gw)
        mark = pypiserver.mark()
        got = pip_install(clients, gw, tmp_path / "venv", "more-itertools", "six")
        assert got["more-itertools"] == "10.2.0"  # the public 10.3.0 is never even seen
        assert got["six"] == "1.16.0"
        uv_python = clients.uv_venv(tmp_path / "uv-venv")
        done = clients.uv(
            "pip", "install", "--python", str(uv_python), "--index-url", gw.url, "more-itertools"
        )
        assert done.returncode == 0, done.stderr
        assert installed(uv_python)["more-itertools"] == "10.2.0"
        assert gw.get("/simple/acme-secret/")[0] == 404  # claimed, absent: never looked up elsewhere
        public_log = pypiserver.requests(mark)
        assert [r for r in public_log if "more" in r.path or "acme" in r.path] == []
        assert any("/six" in r.path for r in public_log)
        assert gw.stop() == 0
        rows = gw.events()
        pages = {(r["project"], r["upstream"]) for r in rows if r["kind"] == "index-project"}
        assert pages == {("more-itertools", "private"), ("six", "public"), ("acme-secret", None)}
        files = {(r["project"], r["upstream"]) for r in rows if r["kind"] in ("file", "metadata")}
        assert ("more-itertools", "private") in files
        assert ("six", "public") in files
    finally:
        private.stop()


def test_primary_dies_mid_run(
    tmp_path: Path, dists: list[Dist], clients: Clients, gateways: list[RoutedGateway]
) -> None:
    primary = PypiServer(BIN / "pypi-server", DISTS_DIR, tmp_path / "primary.log").start()
    secondary = static(tmp_path / "secondary", dists, {d.project for d in dists})
    try:
        body = (
            f'[gateway]\n{SECRET_LINE}default_upstream = ""\ncache_ttl = 0\nupstream_timeout = 3\n'
            f'[upstreams.primary]\nurl = "{primary.simple_url}"\n'
            f'[upstreams.secondary]\nurl = "{secondary.simple_url}"\n'
            "[routing]\nbreaker_threshold = 2\nbreaker_cooldown = 300\n"
            '[[routing.rules]]\nprojects = ["*"]\nupstreams = ["primary", "secondary"]\n'
        )
        gw = RoutedGateway(tmp_path / "gw", body)
        gateways.append(gw)
        assert pip_install(clients, gw, tmp_path / "v1", "six")["six"] == "1.16.0"
        primary.stop()  # mid-run: the next installs must not notice
        got = pip_install(clients, gw, tmp_path / "v2", "jaraco.functools", "tomli")
        assert {"jaraco-functools", "more-itertools", "tomli"} <= set(got)
        uv_python = clients.uv_venv(tmp_path / "uv-venv")
        done = clients.uv("pip", "install", "--python", str(uv_python), "--index-url", gw.url, "six")
        assert done.returncode == 0, done.stderr
        _status, _, metrics = gw.get("/metrics", accept="text/plain")
        assert 'pkgate_upstream_breaker_state{upstream="primary"} 2' in metrics.decode()
        assert 'pkgate_failovers_total{primary="primary",upstream="secondary"}' in metrics.decode()
        assert all(r.status < 400 for r in gw.proxy.requests())
        assert gw.stop() == 0
        rows = [r for r in gw.events() if r["kind"] == "index-project"]
        assert [(r["upstream"], r["failover"]) for r in rows[:1]] == [("primary", False)]
        assert {(r["upstream"], r["failover"]) for r in rows[1:]} == {("secondary", True)}
    finally:
        primary.stop()
        secondary.stop()


def test_all_upstreams_down_cached_pages_served(
    tmp_path: Path, dists: list[Dist], clients: Clients, gateways: list[RoutedGateway]
) -> None:
    # processes, so that stopping one also drops the connections the gateway keeps alive to it
    ups = [PypiServer(BIN / "pypi-server", DISTS_DIR, tmp_path / f"up{i}.log").start() for i in range(2)]
    body = (
        f'[gateway]\n{SECRET_LINE}default_upstream = ""\ncache_ttl = 0\n'
        + "".join(f'[upstreams.u{i}]\nurl = "{u.simple_url}"\n' for i, u in enumerate(ups))
        + '[[routing.rules]]\nprojects = ["*"]\nupstreams = ["u0", "u1"]\n'
    )
    try:
        gw = RoutedGateway(tmp_path / "gw", body)
        gateways.append(gw)
        assert pip_install(clients, gw, tmp_path / "v1", "six", "tomli")["six"] == "1.16.0"
        for u in ups:
            u.stop()
        for name in ("six", "tomli"):
            status, headers, _ = gw.get(f"/simple/{name}/")
            assert status == 200
            assert headers["x-pkgate-cache"] == "stale"
        done = clients.pip("index", "versions", "--index-url", gw.url, "six")
        assert done.returncode == 0, done.stderr
        assert "1.16.0" in done.stdout
        assert gw.get("/simple/never-seen/")[0] == 502  # never cached: an honest error, not a 404
    finally:
        for u in ups:
            u.stop()


def test_proxy_mode_with_credentials(
    tmp_path: Path, dists: list[Dist], clients: Clients, gateways: list[RoutedGateway]
) -> None:
    build_static_index([d for d in dists if d.project in ("six", "more-itertools")], tmp_path / "auth")
    private = AuthIndex(tmp_path / "auth").start()
    try:
        body = (
            f'[gateway]\n{SECRET_LINE}default_upstream = ""\n'
            f'[upstreams.private]\nurl = "{private.simple_url}"\nmode = "proxy"\n'
            'username_env = "PRIVATE_USER"\npassword_env = "PRIVATE_PASSWORD"\n'
            '[[routing.rules]]\nprojects = ["*"]\nupstreams = ["private"]\n'
        )
        env = {"PRIVATE_USER": USER, "PRIVATE_PASSWORD": PASSWORD}
        gw = RoutedGateway(tmp_path / "gw", body, env)
        gateways.append(gw)
        got = pip_install(clients, gw, tmp_path / "venv", "six", "more-itertools")
        assert got["more-itertools"] == "10.3.0"
        uv_python = clients.uv_venv(tmp_path / "uv-venv")
        done = clients.uv(
            "pip", "install", "--python", str(uv_python), "--index-url", gw.url, "more-itertools"
        )
        assert done.returncode == 0, done.stderr
        # what clients can see: pages and file answers, never the credentials or the upstream's 401
        for accept in ("application/vnd.pypi.simple.v1+json", "text/html"):
            status, _, page = gw.get("/simple/six/", accept)
            assert status == 200
            assert PASSWORD.encode() not in page
        assert all(r.status in (200, 206, 304) for r in private.requests())
        assert all(r.status < 400 for r in gw.proxy.requests())
        assert gw.stop() == 0
        rows: list[dict[str, Any]] = gw.events()
        files = [r for r in rows if r["kind"] == "file"]
        assert files
        assert {(r["status"], r["upstream"]) for r in files} <= {(200, "private"), (206, "private")}
        assert PASSWORD not in json.dumps(rows)
        assert PASSWORD not in gw.output()
    finally:
        private.stop()
