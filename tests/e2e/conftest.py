"""Fixtures for end-to-end tests: real upstreams, the real gateway process, real pip and uv.

Clients reach the gateway through a `RecordingProxy`, a transparent pass-through that records
every request and its status: that is the ground truth the stored events are compared with.
Clients are isolated from this machine's pip/uv configuration, so only the gateway can serve them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final, Protocol

import pytest

from tests.support.process import stop_pkgate

from .upstreams import (
    Dist,
    PypiServer,
    Request,
    StaticIndex,
    build_static_index,
    free_port,
    read_dists,
)

REPO: Final = Path(__file__).resolve().parents[2]
BIN: Final = Path(sys.executable).parent
DISTS_DIR: Final = REPO / ".cache" / "test-dists"
#: The file the static upstream marks as yanked (PEP 592), so resolvers must skip it.
YANKED: Final = {"more_itertools-10.3.0-py3-none-any.whl": "yanked by the e2e fixture on purpose"}
#: Hop-by-hop headers a proxy must not forward (RFC 9110 section 7.6.1), plus the length it recomputes.
HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding"}
    | {"upgrade", "content-length"}
)
TIMEOUT: Final = 120.0
#: Environment variables from which pip and uv report `"ci": true` in their User-Agent.
CI_FLAGS: Final = ("CI", "BUILD_ID", "BUILD_BUILDID", "PIP_IS_CI", "GITHUB_ACTIONS", "GITLAB_CI")


# --- upstreams -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dists() -> list[Dist]:
    """The real test distributions, downloaded on first use by scripts/fetch-test-wheels."""
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fetch-test-wheels"), str(DISTS_DIR)],
        check=True,
        timeout=300,
    )
    return read_dists(DISTS_DIR)


@pytest.fixture(scope="session")
def pypiserver(dists: list[Dist], tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    log = tmp_path_factory.mktemp("pypiserver") / "access.log"
    server = PypiServer(BIN / "pypi-server", DISTS_DIR, log).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def static_root(dists: list[Dist], tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("static-index")
    build_static_index(dists, root, YANKED)
    return root


@pytest.fixture(scope="session")
def static_index(static_root: Path) -> Iterator[StaticIndex]:
    server = StaticIndex(static_root).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def static_json_index(static_root: Path) -> Iterator[StaticIndex]:
    """The same index answering JSON only: the gateway must convert for HTML clients."""
    server = StaticIndex(static_root, json_only=True).start()
    yield server
    server.stop()


# --- the gateway behind a recording proxy ----------------------------------------------------------


class RecordingProxy:
    """Forward every request to a local port unchanged (Host included); record what was answered.

    With `source` (a loopback address such as 127.0.5.1) it connects from that address, so the
    gateway sees a client of its own there: several "machines" on one host. With `forwarded_for` it
    is a reverse proxy saying the client is at that (public) address (`X-Forwarded-For`), which a
    gateway that trusts 127.0.0.1 (`privacy.trusted_proxies`) believes.
    """

    def __init__(self, target_port: int, source: str | None = None, forwarded_for: str | None = None) -> None:
        self.target_port = target_port
        self.source = source
        self.forwarded_for = forwarded_for
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        if self.forwarded_for:
            headers["X-Forwarded-For"] = self.forwarded_for
        conn = http.client.HTTPConnection(
            "127.0.0.1",
            self.target_port,
            timeout=30,
            source_address=(self.source, 0) if self.source else None,
        )
        try:
            conn.request(handler.command, handler.path, body=body, headers=headers)
            resp = conn.getresponse()
            status, out_headers, payload = resp.status, resp.getheaders(), resp.read()
        except OSError as exc:
            status, out_headers, payload = 502, [], f"proxy: {exc}\n".encode()
        finally:
            conn.close()
        with self._lock:
            self._log.append(Request(handler.command, handler.path, status))
        handler.send_response_only(status)
        for key, value in out_headers:
            if key.lower() not in HOP_BY_HOP:
                handler.send_header(key, value)
        if handler.command == "HEAD":
            length_out = dict((k.lower(), v) for k, v in out_headers).get("content-length", "0")
        else:
            length_out = str(len(payload))
        handler.send_header("Content-Length", length_out)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy._forward(self)

            do_HEAD = do_GET
            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                """Silence stderr; `_forward` records what tests need."""

        return Handler


def _clean_env() -> dict[str, str]:
    """This process's environment without anything that configures pip, uv or pkgate."""
    drop = ("PIP_", "UV_", "PKGATE_")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONHOME"):
        keep.pop(var, None)
    return keep


class Gateway:
    """`pkgate serve` in a subprocess with its own data dir; `url` is the proxied simple index."""

    def __init__(self, workdir: Path, upstream_url: str, load_interval: float = 0.2, extra: str = "") -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(
            "[server]\n"
            f'host = "127.0.0.1"\nport = {self.port}\n'
            "[gateway]\n"
            'id = "e2e"\nsecret = "test-secret-for-the-e2e-suite"\ndefault_upstream = "local"\n'
            "[upstreams.local]\n"
            f'url = "{upstream_url}"\n'
            "[storage]\n"
            f'data_dir = "{workdir / "data"}"\nload_interval = {load_interval}\n' + extra
        )
        self._launch()

    def _launch(self, env: dict[str, str] | None = None) -> None:
        """Start `pkgate serve` on `self.config` behind a recording proxy; wait until healthy."""
        self.log_path = self.workdir / "pkgate.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [str(BIN / "pkgate"), "serve", "--config", str(self.config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**_clean_env(), **(env or {})},
            start_new_session=True,  # its own process group: its granian workers go with it
        )
        self.proxy = RecordingProxy(self.port)
        try:
            self._wait_ready()
        except BaseException:
            self._kill_group()
            self.proc.wait()
            self.proxy.stop()
            self._log.close()
            raise

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.proxy.url}/simple/"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pkgate serve exited {self.proc.returncode}:\n{self.output()}")
            try:
                self.healthz()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"pkgate serve not healthy after {timeout}s:\n{self.output()}")

    def healthz(self) -> dict[str, Any]:
        """GET /healthz directly (not through the proxy: it is not a client request)."""
        with urllib.request.urlopen(f"{self.direct_url}/healthz", timeout=2) as resp:
            assert resp.status == 200
            body: dict[str, Any] = json.loads(resp.read())
            return body

    def wait_drained(self, timeout: float = 15.0) -> None:
        """Poll healthz until every spooled event is loaded into the store."""
        deadline = time.monotonic() + timeout
        while (lag := self.healthz().get("spool_lag")) != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"spool_lag still {lag!r} after {timeout}s")
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (which drains the spool) and wait; the exit code. Idempotent, and the proxy and the
        log file are closed whatever happens (a leaked handle would fail the worker's next test)."""
        try:
            if self.proc.poll() is None:
                stop_pkgate(self.proc, self.log_path, timeout)  # stacks and the log's end if stuck
        finally:
            self._kill_group()  # a worker the supervisor left behind (a timed-out test did) goes too
            self.proxy.stop()
            self._log.close()
        return self.proc.returncode

    def _kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "pkgate"), *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=60,
        )
        if done.returncode != 0:
            raise AssertionError(f"pkgate {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
        return done.stdout

    def events(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.cli("events", "--format", "json"))
        return rows

    def report(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.cli("report", "--format", "json"))
        return rows


class StartGateway(Protocol):
    def __call__(self, upstream_url: str, load_interval: float = 0.2, extra: str = "") -> Gateway: ...


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[StartGateway]:
    """Factory: a fresh gateway (own port, data dir, proxy) for one upstream URL; stopped after."""
    started: list[Gateway] = []

    def start(upstream_url: str, load_interval: float = 0.2, extra: str = "") -> Gateway:
        """`extra`: more TOML appended to the config (whole sections)."""
        workdir = tmp_path / f"gateway{len(started)}"
        workdir.mkdir()
        gateway = Gateway(workdir, upstream_url, load_interval, extra)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        if gateway.proc.poll() is None:
            gateway.stop()


# --- clients -------------------------------------------------------------------------------


class Clients:
    """pip (from one session venv) and uv, isolated from the machine's configuration."""

    def __init__(self, root: Path) -> None:
        self.root = root
        runner = root / "runner"
        subprocess.run([sys.executable, "-m", "venv", str(runner)], check=True, timeout=TIMEOUT)
        self.runner = runner / "bin" / "python"
        self.uv_bin = BIN / "uv"

    def env(self) -> dict[str, str]:
        env = _clean_env()
        env.update(
            PIP_CONFIG_FILE=os.devnull,
            PIP_NO_CACHE_DIR="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
            UV_NO_CONFIG="1",
            UV_NO_CACHE="1",
            UV_PYTHON_DOWNLOADS="never",
            UV_NO_PROGRESS="1",
            XDG_CONFIG_HOME=str(self.root / "xdg-config"),
        )
        for flag in CI_FLAGS:  # pip and uv put a CI flag in their User-Agent from these: a CI run of
            env.pop(flag, None)  # the suite must not turn every test client into "CI" (left out of reports)
        return env

    def fresh_venv(self, path: Path) -> Path:
        """A new venv without pip (fast); pip runs into it with `--python`. Its interpreter."""
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        return path / "bin" / "python"

    def run(self, argv: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, env=self.env(), cwd=cwd, timeout=TIMEOUT)

    def pip(self, *args: str, python: Path | None = None) -> subprocess.CompletedProcess[str]:
        target = ["--python", str(python)] if python else []
        return self.run([str(self.runner), "-m", "pip", *target, *args])

    def uv(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run([str(self.uv_bin), *args])

    def uv_venv(self, path: Path) -> Path:
        done = self.uv("venv", "--python", sys.executable, str(path))
        assert done.returncode == 0, done.stderr
        return path / "bin" / "python"


@pytest.fixture(scope="session")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Clients:
    return Clients(tmp_path_factory.mktemp("clients"))


def installed(python: Path) -> dict[str, str]:
    """{normalised project: version} of what is installed in the venv of `python`."""
    site = next((python.parent.parent / "lib").glob("python*/site-packages"))
    found = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found[name.replace("_", "-").replace(".", "-").lower()] = version
    return found
