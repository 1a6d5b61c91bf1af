"""Requested vs pulled in, from real pip and uv installs of a real dependency chain.

The gateway serves requests-toolbelt, requests and six (a routing rule, `default_upstream = ""`)
from a static index with PEP 658 metadata; urllib3, idna, certifi and charset-normalizer come from
a second index, so clients using `--extra-index-url <gateway>` ask the gateway for them too and get
404s it records as `index-miss`. Three machines (own loopback addresses):

- A, pip: `requests-toolbelt six` — two roots at once; requests comes in as a dependency of
  requests-toolbelt (whose Requires-Dist lists it);
- B, uv: `requests` — a root;
- C, pip: `requests` — a root.

By hand: requests 3 installs, 2 as a root, 1 as a dependency (pulled in by requests-toolbelt);
requests-toolbelt and six 1 each, as roots. Installed alongside requests in its 3 sessions: the
four names the gateway does not serve (asked in all three), requests-toolbelt and six (once each).
The Requires-Dist is read by the gateway after the fact (at its drain), not while answering.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import REPO, Clients, Gateway, RecordingProxy, installed
from tests.e2e.upstreams import StaticIndex, build_static_index, free_port, read_dists

pytestmark = pytest.mark.e2e

SERVED = ("requests-toolbelt", "requests", "six")
ELSEWHERE = ("certifi", "charset-normalizer", "idna", "urllib3")
A, B, C = "127.0.6.1", "127.0.6.2", "127.0.6.3"


class DepsGateway(Gateway):
    """`pkgate serve` serving only SERVED, the documented extra-index configuration."""

    def __init__(self, workdir: Path, author_index: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n'
            f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
            '[gateway]\nsecret = "deps-e2e-secret-0123456789abcdef"\ndefault_upstream = ""\n'
            f'[upstreams.author]\nurl = "{author_index}"\n'
            f'[[routing.rules]]\nprojects = {json.dumps(list(SERVED))}\nupstreams = ["author"]\n'
        )
        self._launch()


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StaticIndex, StaticIndex]]:
    """(the gateway's upstream: SERVED; the other index: the rest of the chain)."""
    dest = REPO / ".cache" / "test-dists-deps"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fetch-test-wheels"), "--deps", str(dest)], check=True
    )
    dists = read_dists(dest)
    root = tmp_path_factory.mktemp("deps-index")
    build_static_index([d for d in dists if d.project in SERVED], root / "author")
    build_static_index([d for d in dists if d.project not in SERVED], root / "others")
    author, others = StaticIndex(root / "author").start(), StaticIndex(root / "others").start()
    yield author, others
    author.stop()
    others.stop()


def report(gateway: Gateway, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(gateway.cli("report", *args, "--format", "json"))
    return rows


def test_roots_dependencies_and_names_alongside(
    indexes: tuple[StaticIndex, StaticIndex], clients: Clients, tmp_path: Path
) -> None:
    author, others = indexes
    gateway = DepsGateway(tmp_path / "gateway", author.simple_url)
    machines = {ip: RecordingProxy(gateway.port, source=ip) for ip in (A, B, C)}
    try:
        url = {ip: f"{p.url}/simple/" for ip, p in machines.items()}

        def options(ip: str, *names: str) -> list[str]:
            return ["--index-url", others.simple_url, "--extra-index-url", url[ip], *names]

        venv_a = clients.fresh_venv(tmp_path / "a")
        done = clients.pip("install", *options(A, "requests-toolbelt", "six"), python=venv_a)
        assert done.returncode == 0, done.stdout + done.stderr
        assert installed(venv_a)["requests"] == "2.32.3"
        venv_b = clients.uv_venv(tmp_path / "b")
        done = clients.uv("pip", "install", "--python", str(venv_b), *options(B, "requests"))
        assert done.returncode == 0, done.stdout + done.stderr
        venv_c = clients.fresh_venv(tmp_path / "c")
        done = clients.pip("install", *options(C, "requests"), python=venv_c)
        assert done.returncode == 0, done.stdout + done.stderr
        # nothing was asked of the upstream's metadata while clients were being answered but what
        # the clients themselves fetched: the gateway reads Requires-Dist at its drain
        asked_before = len(author.requests())
    finally:
        for p in machines.values():
            p.stop()
        assert gateway.stop() == 0
    assert any(r.path.endswith(".metadata") for r in author.requests()[asked_before:])

    roles = {
        r["project"]: (r["installs"], r["root"], r["dependency"], r["incomplete"])
        for r in report(gateway, "dependencies")
    }
    assert roles == {"requests": (3, 2, 1, 0), "requests-toolbelt": (1, 1, 0, 0), "six": (1, 1, 0, 0)}
    pulled = [(r["project"], r["pulled_in_by"], r["installs"]) for r in report(gateway, "pulled-in-by")]
    assert pulled == [("requests", "requests-toolbelt", 1)]
    near = {
        r["alongside"]: (r["sessions"], r["served"])
        for r in report(gateway, "alongside", "--project", "requests")
    }
    assert near == {
        **{name: (3, False) for name in ELSEWHERE},
        "requests-toolbelt": (1, True),
        "six": (1, True),
    }
