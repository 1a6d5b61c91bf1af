"""End to end conda: real `pkgate serve`, real py-rattler solving and installing through it.

Channels built by py-rattler-build and indexed by py-rattler (sharded), on static servers:
`public` has tool-x and the bait acme-lib 9.9.9, `private` has acme-lib 1.2.0 (claimed by a
routing rule). A cold install, then a warm one (the client revalidates its cached repodata with
`If-None-Match`/`If-Modified-Since`, the package cache holds the files); the store and the report
are checked against what the client fetched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.conda_channel import ChannelServer, Pkg, build_channel

from .conftest import _clean_env
from .test_routing import RoutedGateway

pytestmark = pytest.mark.e2e

CLIENT = Path(__file__).with_name("conda_client.py")


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[dict[str, ChannelServer]]:
    """Two channels on each host: `main` sharded everywhere; in `flat` the private host has no
    shard index, so the gateway offers none and the client reads the composed repodata.json."""
    for channel in ("main", "flat"):
        build_channel(
            tmp_path / "public" / channel,
            [Pkg("tool-x", "2.0.1", format="tar.bz2"), Pkg("acme-lib", "9.9.9")],
        )
        build_channel(
            tmp_path / "private" / channel,
            [Pkg("acme-lib", "1.2.0", ("tool-x >=2",))],
            shards=channel == "main",
        )
    servers = {n: ChannelServer(tmp_path / n).start() for n in ("public", "private")}
    yield servers
    for s in servers.values():
        s.stop()


def client_env(tmp: Path) -> dict[str, str]:
    """The machine's environment without pip/uv/pkgate settings, and a home of its own: rattler
    reads credentials and settings from the user's home and XDG directories."""
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    xdg = {f"XDG_{d}_HOME": str(home / d.lower()) for d in ("CONFIG", "CACHE", "DATA")}
    return {**_clean_env(), "HOME": str(home), **xdg}


def install(gw: RoutedGateway, tmp: Path, channel: str, prefix: str) -> list[dict[str, str]]:
    spec = {
        "channel": f"{gw.direct_url}/conda/{channel}",
        "specs": ["acme-lib"],
        "prefix": str(tmp / prefix),
        "cache": str(tmp / f"rattler-{channel}"),
    }
    done = subprocess.run(
        [sys.executable, str(CLIENT), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=180,
        env=client_env(tmp),
    )
    assert done.returncode == 0, done.stderr
    out: list[dict[str, str]] = json.loads(done.stdout.splitlines()[-1])
    return out


def test_rattler_installs_through_the_gateway(tmp_path: Path, hosts: dict[str, ChannelServer]) -> None:
    body = (
        '[gateway]\nsecret = "conda-e2e-secret-0123456789"\ndefault_upstream = ""\ncache_ttl = 0\n'
        '[conda]\ndefault_upstream = "public"\n'
        + "".join(f'[upstreams.{n}]\nurl = "{s.url}"\necosystem = "conda"\n' for n, s in hosts.items())
        + '[[routing.rules]]\necosystem = "conda"\nprojects = ["acme-lib"]\nupstreams = ["private"]\n'
    )
    gw = RoutedGateway(tmp_path / "gw", body)
    warm_hits = []
    try:
        for channel in ("main", "flat"):
            cold = install(gw, tmp_path, channel, f"{channel}-1")
            assert sorted((r["name"], r["version"]) for r in cold) == [
                ("acme-lib", "1.2.0"),
                ("tool-x", "2.0.1"),
            ]
            assert all(r["url"].startswith(f"{gw.direct_url}/conda/{channel}/noarch/") for r in cold)
            assert (tmp_path / f"{channel}-1" / "share" / "acme-lib" / "VERSION").read_text() == "1.2.0\n"
            marks = {n: s.mark() for n, s in hosts.items()}
            assert install(gw, tmp_path, channel, f"{channel}-2") == cold
            warm_hits += [h for n, s in hosts.items() for h in s.hits(marks[n])]
        gw.wait_drained()
        evs: list[dict[str, Any]] = gw.events()
        report = json.loads(gw.cli("report", "--ecosystem", "conda", "--format", "json"))
    finally:
        gw.stop()
    assert not [h for h in hosts["public"].hits() if "acme" in h.path]  # the bait was never asked for
    files = sorted(
        (
            e["path"].split("/")[2],
            e["project"],
            e["version"],
            e["filename"],
            e["platform"],
            e["upstream"],
            e["status"],
        )
        for e in evs
        if e["kind"] == "file"
    )
    assert files == [
        ("flat", "acme-lib", "1.2.0", "acme-lib-1.2.0-0.conda", "noarch", "private", 302),
        ("flat", "tool-x", "2.0.1", "tool-x-2.0.1-0.tar.bz2", "noarch", "public", 302),
        ("main", "acme-lib", "1.2.0", "acme-lib-1.2.0-0.conda", "noarch", "private", 302),
        ("main", "tool-x", "2.0.1", "tool-x-2.0.1-0.tar.bz2", "noarch", "public", 302),
    ]
    assert {e["ecosystem"] for e in evs} == {"conda"}
    assert all(e["user_agent"].startswith("py-rattler/") for e in evs)
    assert {(e["ua_category"], e["installer"]) for e in evs} == {("installer", "py-rattler")}
    # The warm installs only revalidated: no file fetched again, conditional requests got 304s.
    assert not [h for h in warm_hits if h.path.endswith((".conda", ".tar.bz2"))]
    conditional = {(e["path"], e["status"]) for e in evs if e["conditional"]}
    assert conditional == {
        ("/conda/main/noarch/repodata_shards.msgpack.zst", 304),
        ("/conda/flat/noarch/repodata.json", 304),
    }
    revalidations = [
        h for h in warm_hits if "if-none-match" in h.headers and h.path.startswith("/main/noarch/")
    ]
    assert revalidations, "the gateway revalidates its own copies with the upstream's ETag"
    served = {(e["path"], e["status"]) for e in evs if e["kind"] == "index-root" and e["status"] == 200}
    assert served == {
        ("/conda/main/noarch/repodata_shards.msgpack.zst", 200),
        ("/conda/flat/noarch/repodata.json", 200),
    }
    assert {e["project"] for e in evs if e["kind"] == "index-project"} == {"acme-lib", "tool-x"}  # shards
    rows = sorted(
        (r["project"], r["version"] or "", r["downloads"], r["installs"], r["index_hits"]) for r in report
    )
    assert rows == [  # two downloads (one per channel) by one source; one shard fetch each
        ("acme-lib", "", 0, 0, 1),
        ("acme-lib", "1.2.0", 2, 1, 0),
        ("tool-x", "", 0, 0, 1),
        ("tool-x", "2.0.1", 2, 1, 0),
    ]
