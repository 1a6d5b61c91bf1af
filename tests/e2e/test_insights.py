"""Every insight from real client traffic: pip and uv install through the gateway, then each
`pkgate report` topic is checked against what the clients did (one machine, one day)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pkgate.insights import CLASSES
from tests.e2e.conftest import Clients, Gateway, StartGateway, installed
from tests.e2e.upstreams import StaticIndex

pytestmark = pytest.mark.e2e


def report(gateway: Gateway, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(gateway.cli("report", *args, "--format", "json"))
    return rows


def test_every_insight_from_real_pip_and_uv(
    start_gateway: StartGateway, static_index: StaticIndex, clients: Clients, tmp_path: Path
) -> None:
    gateway = start_gateway(static_index.simple_url)
    pip_python = clients.fresh_venv(tmp_path / "pip-venv")
    done = clients.pip("install", "--index-url", gateway.url, "jaraco.functools", python=pip_python)
    assert done.returncode == 0, done.stdout + done.stderr
    done = clients.pip(
        "download",
        "--no-deps",
        "--dest",
        str(tmp_path / "dl"),
        "--index-url",
        gateway.url,
        "more-itertools==10.3.0",
    )
    assert done.returncode == 0, done.stdout + done.stderr  # a pinned yanked release is still allowed
    uv_python = clients.uv_venv(tmp_path / "uv-venv")
    done = clients.uv("pip", "install", "--python", str(uv_python), "--index-url", gateway.url, "six")
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(uv_python) == {"six": "1.16.0"}
    assert gateway.stop() == 0  # drains the spool and refreshes the rollups
    events = gateway.events()

    def is_download(e: dict[str, Any]) -> bool:
        return e["kind"] == "file" and e["method"] == "GET" and e["status"] == 302 and not e["partial"]

    downloads = [e for e in events if is_download(e)]
    by_installer: dict[str, int] = {}
    for e in downloads:
        by_installer[e["installer"]] = by_installer.get(e["installer"], 0) + 1
    assert set(by_installer) == {"pip", "uv"}

    # downloads vs attempts, per version and per day
    rows = {(r["project"], r["version"]): r for r in report(gateway, "downloads")}
    assert rows[("jaraco-functools", "4.0.1")]["downloads"] >= 1
    assert rows[("more-itertools", "10.3.0")]["downloads"] == 1
    assert rows[("six", "1.16.0")]["downloads"] >= 1
    daily = report(gateway, "downloads-daily")
    assert sum(r["downloads"] for r in daily) == len(downloads)
    assert len({r["day"] for r in daily}) == 1

    # breakdowns: installer, Python, OS, CPU, country (loopback: none), CI
    installers = {r["value"]: r["downloads"] for r in report(gateway, "breakdown", "--by", "installer")}
    assert installers == by_installer
    pythons = {r["value"] for r in report(gateway, "breakdown", "--by", "python")}
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in pythons
    assert {r["value"] for r in report(gateway, "breakdown", "--by", "system")} == {"Linux"}
    assert {r["value"] for r in report(gateway, "breakdown", "--by", "country")} == {None}
    cpus = {r["value"] for r in report(gateway, "breakdown", "--by", "cpu")}
    assert cpus & {"x86_64", "aarch64"}

    # uniques: one machine, one day, whatever the number of requests
    total = [r for r in report(gateway, "uniques") if r["project"] is None]
    assert [(r["sources"], r["downloads"]) for r in total] == [(1, len(downloads))]
    networks = [r for r in report(gateway, "uniques", "--level", "network") if r["project"] is None]
    assert networks[0]["sources"] == 1

    # behaviour: one class per (day, project, source), from the documented set
    behaviour = report(gateway, "behaviour")
    assert {r["project"] for r in behaviour} >= {"jaraco-functools", "six", "more-itertools"}
    assert {r["behaviour"] for r in behaviour} <= set(CLASSES)
    assert len({r["source_id"] for r in behaviour}) == 1

    # heavy hitters and concentration: the one source made every download
    hitters = report(gateway, "heavy-hitters")
    assert [(h["rank"], h["downloads"], h["share"]) for h in hitters] == [(1, len(downloads), 1.0)]
    assert not hitters[0]["aggressive"]
    top2 = next(r for r in report(gateway, "concentration") if r["top"] == 2)
    assert top2["share"] == 1.0

    # version adoption: shares per project add up to one
    adoption = report(gateway, "adoption", "--project", "more-itertools")
    assert {r["version"] for r in adoption} == {"10.2.0", "10.3.0"}
    assert abs(sum(r["share"] for r in adoption) - 1.0) < 1e-9
    first = {r["version"]: r for r in report(gateway, "first-seen", "--project", "more-itertools")}
    assert first["10.3.0"]["lag_days"] == 0
