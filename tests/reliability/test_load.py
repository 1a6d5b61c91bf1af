"""Load: `wrk` at 80 % of the gateway's measured maximum on a mix of index pages (JSON and HTML),
304 revalidations, file redirects and metadata redirects.

The maximum is measured first in the same run (no fixed figure), then the gateway is held at about
80 % of it for `PKGATE_LOAD_SECONDS` (CI 60 s; bench/soak.sh 600 s). No answer may be a 5xx, every
answer wrk saw must be stored (and at most the requests still in flight when wrk stopped more), and
the worker's RSS at start and end of the run is printed (and must not grow by more than 64 MiB).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from tests.e2e.conftest import dists, static_index, static_root  # noqa: F401  (fixtures)
from tests.e2e.upstreams import StaticIndex
from tests.reliability.served import Served

pytestmark = pytest.mark.e2e
SECONDS = int(os.environ.get("PKGATE_LOAD_SECONDS", "60"))
CONNECTIONS = 32
JSON = "application/vnd.pypi.simple.v1+json"
HERE = Path(__file__).resolve().parent


class WrkRun(NamedTuple):
    requests: int
    s2xx: int
    s3xx: int
    s4xx: int
    s5xx: int
    socket_errors: int
    rps: float
    p99_ms: float
    p50_ms: float


def wrk(url: str, mix: Path, seconds: int, ua: str, delay_ms: int = 0) -> WrkRun:
    exe = shutil.which("wrk")
    assert exe, "wrk is not installed (scripts/setup installs the Debian package)"
    env = {**os.environ, "MIX_FILE": str(mix), "MIX_UA": ua, "MIX_DELAY_MS": str(delay_ms)}
    out = subprocess.run(
        [exe, "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "-s", str(HERE / "mix.lua"), url],
        capture_output=True,
        text=True,
        env=env,
        timeout=seconds + 120,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("LOAD "))
    v = {k: int(n) for k, n in re.findall(r"(\w+)=(\d+)", line)}
    return WrkRun(
        v["requests"], v["s2xx"], v["s3xx"], v["s4xx"], v["s5xx"], v["socket_errors"],
        v["requests"] / (v["duration_us"] / 1e6), v["p99_us"] / 1000, v["p50_us"] / 1000,
    )  # fmt: skip


def write_mix(gw: Served, path: Path) -> dict[str, int]:
    """The request mix (one line per request kind and target); counts per kind."""
    lines: list[str] = []
    kinds = {"index": 0, "304": 0, "file": 0, "metadata": 0}
    with httpx.Client(base_url=gw.url) as client:
        names = [p["name"] for p in client.get("/simple/", headers={"accept": JSON}).json()["projects"]]
        for name in names:
            for accept in (JSON, "text/html"):
                page = client.get(f"/simple/{name}/", headers={"accept": accept})
                assert page.status_code == 200
                lines.append(f"/simple/{name}/\tAccept: {accept}")
                lines.append(f"/simple/{name}/\tAccept: {accept}\tIf-None-Match: {page.headers['etag']}")
                kinds["index"] += 1
                kinds["304"] += 1
            for f in client.get(f"/simple/{name}/", headers={"accept": JSON}).json()["files"]:
                lines += [f["url"]] * 2  # files are what installs ask for most
                kinds["file"] += 2
                if f.get("core-metadata"):
                    lines.append(f["url"] + ".metadata")
                    kinds["metadata"] += 1
    path.write_text("\n".join(lines) + "\n")
    return kinds


def test_load_at_80_percent_of_the_maximum(tmp_path: Path, static_index: StaticIndex) -> None:  # noqa: F811
    gw = Served(
        tmp_path / "gw",
        {
            "gateway": {"secret": "load-test-secret-0123456789", "default_upstream": "up", "cache_ttl": 300},
            "upstreams.up": {"url": static_index.simple_url},
            "storage": {"load_interval": 1.0},
        },
    ).start()
    try:
        mix = tmp_path / "mix.txt"
        kinds = write_mix(gw, mix)
        peak = wrk(gw.url, mix, 5, "pkgate-load/max")
        # Each connection waits `delay` between requests; its cycle (delay + latency) must come to
        # CONNECTIONS / (0.8 * peak). Latency falls with the load, so one short run corrects it.
        cycle_ms = CONNECTIONS * 1000 / (0.8 * peak.rps)
        delay_ms = max(1, round(cycle_ms - peak.p50_ms))
        trial = wrk(gw.url, mix, 3, "pkgate-load/trial", delay_ms)
        delay_ms = max(1, round(delay_ms + cycle_ms - CONNECTIONS * 1000 / trial.rps))
        rss_start = gw.rss_kib()
        run = wrk(gw.url, mix, SECONDS, "pkgate-load/80", delay_ms)
        rss_end = gw.rss_kib()
    finally:
        code = gw.stop()
    assert code == 0, gw.output()[-3000:]
    stored = gw.count("user_agent = 'pkgate-load/80'")
    stored_5xx = gw.count("status >= 500")
    print(
        f"\nload: mix {kinds}; maximum {peak.rps:.0f} req/s (p99 {peak.p99_ms:.1f} ms); "
        f"held {run.rps:.0f} req/s = {run.rps / peak.rps:.0%} of it for {SECONDS}s (delay {delay_ms} ms, "
        f"p99 {run.p99_ms:.1f} ms): {run.requests} answered (2xx {run.s2xx}, 3xx {run.s3xx}, "
        f"4xx {run.s4xx}, 5xx {run.s5xx}, socket errors {run.socket_errors}), {stored} stored; "
        f"worker RSS start {rss_start} KiB, end {rss_end} KiB"
    )
    assert peak.s5xx == 0
    assert run.s5xx == 0
    assert stored_5xx == 0
    assert run.s4xx == 0  # every request in the mix is a valid one
    assert run.socket_errors == 0
    assert run.s2xx > 0
    assert run.s3xx > 0
    assert run.requests <= stored <= run.requests + CONNECTIONS  # stored == answered, in flight aside
    assert rss_start
    for pid, kib in rss_end.items():
        assert kib - rss_start.get(pid, kib) < 64 * 1024, (rss_start, rss_end)
