"""End to end: real pip and uv through a real nginx redirect front (the docs' config), the same runs
through a real gateway; `pkgate ingest` of nginx's combined and JSON logs then reports the same
downloads, attempts, installers and unique sources as the gateway, and stores no client address."""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Clients, Gateway, _clean_env, installed
from tests.e2e.upstreams import StaticIndex, free_port

from .nginx import Nginx

pytestmark = pytest.mark.e2e

CLIENT_A, CLIENT_B = "127.83.201.17", "127.91.7.203"


class TrustingGateway(Gateway):
    """The e2e gateway, believing X-Forwarded-For from 127.0.0.1 (the injectors)."""

    def __init__(self, workdir: Path, upstream_url: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n'
            '[gateway]\nid = "e2e"\nsecret = "test-secret-for-the-e2e-suite"\ndefault_upstream = "local"\n'
            f'[upstreams.local]\nurl = "{upstream_url}"\n'
            f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
            '[privacy]\ntrusted_proxies = ["127.0.0.1/32"]\n'
        )
        self._launch()


@pytest.fixture
def fronts(tmp_path: Path, static_index: StaticIndex) -> Iterator[tuple[Nginx, TrustingGateway]]:
    (tmp_path / "gateway").mkdir()
    gateway = TrustingGateway(tmp_path / "gateway", static_index.simple_url)
    port = int(static_index.url.rsplit(":", 1)[1])
    try:
        nginx = Nginx(tmp_path / "nginx", port, [CLIENT_A, CLIENT_B], gateway.port)
    except BaseException:
        gateway.stop()
        raise
    yield nginx, gateway
    nginx.stop()
    gateway.stop()  # idempotent: also closes its log when the gateway already exited


def _install_runs(clients: Clients, url: dict[str, str], root: Path) -> None:
    """The same client runs, whichever front `url` leads to (per simulated client address)."""
    root.mkdir()
    pip_python = clients.fresh_venv(root / "pip-venv")
    done = clients.pip("install", "--index-url", url[CLIENT_A], "jaraco.functools", python=pip_python)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(pip_python) == {"jaraco-functools": "4.0.1", "more-itertools": "10.2.0"}
    uv_python = clients.uv_venv(root / "uv-venv")
    done = clients.uv(
        "pip", "install", "--python", str(uv_python), "--index-url", url[CLIENT_B], "six", "tomli"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(uv_python) == {"six": "1.16.0", "tomli": "2.0.1"}
    done = clients.pip("download", "--no-deps", "-d", str(root / "dl"), "--index-url", url[CLIENT_B], "six")
    assert done.returncode == 0, done.stdout + done.stderr


def _pkgate(config: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        [str(BIN / "pkgate"), *args, "--config", str(config)],
        input=stdin,
        capture_output=True,
        env=_clean_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode() + done.stderr.decode()


def _reports(config: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, args in {
        "downloads": ["report", "downloads"],
        "installers": ["report", "breakdown", "--by", "installer"],
        "uniques": ["report", "uniques"],
        "networks": ["report", "uniques", "--level", "network"],
    }.items():
        out[name] = json.loads(_pkgate(config, *args, "--format", "json"))
    return out


def _needles(ips: list[str]) -> dict[str, bytes]:
    out = {}
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        out[f"{ip} text"] = ip.encode()
        out[f"{ip} packed"] = addr.packed
        out[f"{ip} mapped"] = ipaddress.IPv6Address(f"::ffff:{ip}").packed
        out[f"{ip} int"] = str(int(addr)).encode()
    return out


def test_ingested_nginx_logs_report_like_the_gateway(
    fronts: tuple[Nginx, TrustingGateway], clients: Clients, tmp_path: Path
) -> None:
    nginx, gateway = fronts
    _install_runs(clients, {ip: nginx.front_url(ip) for ip in (CLIENT_A, CLIENT_B)}, tmp_path / "via-nginx")
    _install_runs(
        clients, {ip: nginx.gateway_url(ip) for ip in (CLIENT_A, CLIENT_B)}, tmp_path / "via-gateway"
    )
    assert gateway.stop() == 0, gateway.output()
    nginx.stop()
    want = _reports(gateway.config)
    assert want["downloads"], "the gateway recorded nothing"
    downloaded = {(r["project"], r["version"]): r["downloads"] for r in want["downloads"] if r["downloads"]}
    # What the runs install (uv may also fetch build dependencies of the tomli sdist, and the sdist
    # twice): at least these, and six exactly twice (uv's install and pip's download).
    assert {("jaraco-functools", "4.0.1"), ("more-itertools", "10.2.0"), ("tomli", "2.0.1")} <= set(
        downloaded
    )
    assert downloaded[("six", "1.16.0")] == 2
    assert {r["value"] for r in want["installers"] if r["downloads"]} >= {"pip", "uv"}

    for log, fmt in ((nginx.combined, "combined"), (nginx.json, "nginx-json")):
        text = log.read_text()
        assert CLIENT_A in text
        assert CLIENT_B in text
        config = tmp_path / f"ingest-{fmt}.toml"
        data = tmp_path / f"ingest-{fmt}"
        config.write_text(f'[storage]\ndata_dir = "{data}"\n')
        summary = _pkgate(config, "ingest", "--strict", str(log))
        assert "rejected: none" in summary, summary
        got = _reports(config)
        for name in want:
            assert got[name] == want[name], f"{fmt}: report {name} differs from the gateway's"
        found = [
            f"{path.relative_to(data)}: {label}"
            for path in data.rglob("*")
            if path.is_file()
            for label, needle in _needles([CLIENT_A, CLIENT_B]).items()
            if needle in path.read_bytes()
        ]
        assert found == [], f"{fmt}: client addresses on disk"  # ...the store does not
        events = json.loads(_pkgate(config, "events", "--format", "json"))
        assert {e["origin"] for e in events} == {f"log:{fmt}"}
        again = _pkgate(config, "ingest", "--from-start", str(log))
        assert f"0 events stored, {len(events)} already stored" in again
