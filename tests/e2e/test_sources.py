"""Mirrors, bots and CI left out of reports, from real traffic through a real gateway.

Three "machines" on one host, each behind its own loopback address (`RecordingProxy(source=)`):
a person's pip installs jaraco.functools (and so more-itertools), a CI job's pip (`CI=true`, which
pip puts in its User-Agent) installs six, and a script probes 20 project names of which 15 do not
exist — a bot by behaviour whatever its User-Agent says. Reports count the person only, unless
`--all-sources` puts everyone back.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Clients, Gateway, RecordingProxy, StartGateway
from tests.e2e.upstreams import StaticIndex

pytestmark = pytest.mark.e2e

PERSON, CI, SCRIPT = "127.0.5.1", "127.0.5.2", "127.0.5.3"
REAL = ("six", "flit-core", "tomli", "more-itertools", "jaraco-functools")


def report(gateway: Gateway, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(gateway.cli("report", *args, "--format", "json"))
    return rows


def test_reports_leave_mirrors_bots_and_ci_out(
    start_gateway: StartGateway, static_index: StaticIndex, clients: Clients, tmp_path: Path
) -> None:
    gateway = start_gateway(static_index.simple_url)
    machines = {ip: RecordingProxy(gateway.port, source=ip) for ip in (PERSON, CI, SCRIPT)}
    try:
        index = {ip: f"{proxy.url}/simple/" for ip, proxy in machines.items()}
        done = clients.pip(
            "install",
            "--index-url",
            index[PERSON],
            "jaraco.functools",
            python=clients.fresh_venv(tmp_path / "a"),
        )
        assert done.returncode == 0, done.stdout + done.stderr
        venv = clients.fresh_venv(tmp_path / "b")
        argv = [
            str(clients.runner),
            "-m",
            "pip",
            "--python",
            str(venv),
            "install",
            "--index-url",
            index[CI],
            "six",
        ]
        ci = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env={**clients.env(), "CI": "true"},
            timeout=120,
            check=False,
        )
        assert ci.returncode == 0, ci.stdout + ci.stderr
        names = [*REAL, *(f"acme-internal-{i}" for i in range(15))]
        with httpx.Client(base_url=index[SCRIPT], headers={"user-agent": "python-httpx/0.27"}) as probe:
            statuses = [probe.get(f"{n}/").status_code for n in names]
        assert statuses.count(404) == 15
    finally:
        for proxy in machines.values():
            proxy.stop()
    assert gateway.stop() == 0

    rows = report(gateway, "behaviour")
    per_source: dict[str, set[str]] = {}
    for r in rows:
        per_source.setdefault(r["source_id"], set()).add(r["behaviour"])
    # the person is one-off, the CI job's pip ci, the probe a bot on every name it asked for
    assert sorted(sorted(c) for c in per_source.values()) == [["bot"], ["ci"], ["one-off"]]
    assert {r["behaviour"] for r in rows if r["project"] == "six"} == {"ci", "bot"}

    def downloads(*args: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in report(gateway, "downloads", *args):
            out[r["project"]] = out.get(r["project"], 0) + r["downloads"]
        return out

    people = downloads()
    assert people == {"jaraco-functools": 1, "more-itertools": 1}  # the CI job and the probe are out
    everyone = downloads("--all-sources")
    assert everyone["six"] == 1
    assert everyone["jaraco-functools"] == 1
    assert sum(1 for p in everyone if p.startswith("acme-internal-")) == 15  # probed: failures only
    total = [r for r in report(gateway, "uniques") if r["project"] is None]
    assert [r["sources"] for r in total] == [1]
    total_all = [r for r in report(gateway, "uniques", "--all-sources") if r["project"] is None]
    assert [r["sources"] for r in total_all] == [3]
