"""Real curl and wget download plain files through `pkgate serve` from a local origin server."""

from __future__ import annotations

import functools
import hashlib
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import Gateway
from .upstreams import free_port

PAYLOAD = hashlib.sha256(b"pkgate").digest() * 4096  # 128 KiB of release binary


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Silence stderr."""


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("origin")
    (root / "releases" / "v1.2.0").mkdir(parents=True)
    (root / "releases" / "v1.2.0" / "tool-1.2.0-linux-amd64.tar.gz").write_bytes(PAYLOAD)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class FilesGateway(Gateway):
    def __init__(self, workdir: Path, origin: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "pkgate.toml"
        self.config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {self.port}\n'
            '[gateway]\nid = "e2e"\nsecret = "test-secret-for-the-e2e-suite"\ndefault_upstream = ""\n'
            f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
            f'[[files]]\nname = "tool"\nurl = "{origin}/releases/v{{version}}/{{file}}"\n'
            'files = ["tool-*"]\n'
        )
        self._launch()


@pytest.fixture(scope="module")
def gateway(origin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilesGateway]:
    gw = FilesGateway(tmp_path_factory.mktemp("files-gateway"), origin)
    yield gw
    gw.stop()


CLIENTS = {
    "curl": ["curl", "-q", "--fail", "--silent", "--show-error", "-L", "-o"],
    "wget": ["wget", "--no-config", "--quiet", "-O"],
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_download_through_the_gateway(gateway: FilesGateway, tmp_path: Path, client: str) -> None:
    out = tmp_path / "tool.tar.gz"
    url = f"{gateway.proxy.url}/dl/tool/1.2.0/tool-1.2.0-linux-amd64.tar.gz"
    done = subprocess.run([*CLIENTS[client], str(out), url], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == PAYLOAD
    missing = subprocess.run(
        [*CLIENTS[client], str(tmp_path / "x"), url.replace("tool-1.2.0-linux", "other-1.2.0-linux")],
        timeout=60,
    )
    assert missing.returncode != 0  # a file outside the template: 404, and the client says so
    gateway.wait_drained()
    mine = [
        e
        for e in gateway.events()
        if e["user_agent"].startswith(f"{client.capitalize()}/")
        or e["user_agent"].lower().startswith(f"{client}/")
    ]
    assert [(e["ecosystem"], e["kind"], e["project"], e["version"], e["status"]) for e in mine] == [
        ("files", "file", "tool", "1.2.0", 302),
        ("files", "file", "tool", None, 404),  # not a file of the entry: no version recorded
    ]
