"""Companies out of the box: organisation, ASN and connection type from the bundled network
database, and a GitHub Actions meta file as a CI signal, from real pip and uv through a gateway.

The gateway trusts 127.0.0.1 as a reverse proxy; three recording proxies say the clients are at
public addresses: 8.8.8.8 (Google, AS15169, hosting), 81.2.69.160 (Andrews & Arnold, AS20712, an
ISP) and 20.0.1.7, listed under `actions` in the GitHub meta file the gateway is given. No
database is configured and nothing is downloaded: the answers come from the installed package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Clients, Gateway, RecordingProxy, StartGateway, installed
from tests.e2e.upstreams import StaticIndex

pytestmark = pytest.mark.e2e

GOOGLE, AAISP, RUNNER = "8.8.8.8", "81.2.69.160", "20.0.1.7"


def by(gateway: Gateway, dimension: str, *more: str) -> dict[str | None, int]:
    out = gateway.cli("report", "breakdown", "--by", dimension, *more, "--format", "json")
    rows: list[dict[str, Any]] = json.loads(out)
    return {r["value"]: r["downloads"] for r in rows}


def test_organisation_asn_connection_and_ci_ranges(
    start_gateway: StartGateway, static_index: StaticIndex, clients: Clients, tmp_path: Path
) -> None:
    meta = tmp_path / "github-meta.json"
    meta.write_text(
        json.dumps(
            {
                "verifiable_password_authentication": False,
                "hooks": ["192.30.252.0/22"],
                "actions": ["20.0.1.0/24"],
            }
        )
    )
    extra = f'[privacy]\ntrusted_proxies = ["127.0.0.1/32"]\ncloud_ranges = ["{meta}"]\n'
    gateway = start_gateway(static_index.simple_url, extra=extra)
    proxies = {ip: RecordingProxy(gateway.port, forwarded_for=ip) for ip in (GOOGLE, AAISP, RUNNER)}
    try:
        index = {ip: f"{p.url}/simple/" for ip, p in proxies.items()}
        done = clients.pip(
            "install", "--index-url", index[GOOGLE], "six", python=clients.fresh_venv(tmp_path / "a")
        )
        assert done.returncode == 0, done.stdout + done.stderr
        uv_python = clients.uv_venv(tmp_path / "b")
        done = clients.uv("pip", "install", "--python", str(uv_python), "--index-url", index[AAISP], "six")
        assert done.returncode == 0, done.stdout + done.stderr
        assert installed(uv_python) == {"six": "1.16.0"}
        done = clients.pip(
            "install", "--index-url", index[RUNNER], "six", python=clients.fresh_venv(tmp_path / "c")
        )
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        for p in proxies.values():
            p.stop()
    assert gateway.stop() == 0

    # people only (the default): the runner in GitHub's published range is CI, left out
    assert by(gateway, "org") == {"Google LLC": 1, "Andrews & Arnold Ltd": 1}
    assert by(gateway, "asn") == {"15169": 1, "20712": 1}
    assert by(gateway, "connection") == {"hosting": 1, "isp": 1}
    assert by(gateway, "country") == {"US": 1, "GB": 1}
    # everyone: the runner is back, marked CI by its address, not by its User-Agent
    assert by(gateway, "ci_signal", "--all-sources") == {"none": 2, "address": 1}
    assert by(gateway, "cloud", "--all-sources") == {None: 2, "github-actions": 1}
    assert by(gateway, "org", "--all-sources")["Microsoft Corporation"] == 1
