"""Real conda channels for tests: packages built by py-rattler-build, indexed by py-rattler's own
indexer (repodata.json, .zst and CEP-16 shards), served by a static HTTP server that honours
ETag/If-None-Match and Last-Modified/If-Modified-Since and records what it answered.

Building and indexing run in a subprocess (`python -m tests.support.conda_channel SPEC`) that ends
with `os._exit`: py-rattler can abort at interpreter shutdown after its work is done, which must
not take the test process with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parents[2]


class Pkg(NamedTuple):
    name: str
    version: str
    depends: tuple[str, ...] = ()
    format: str = "conda"  # or "tar.bz2"
    subdir: str = "noarch"

    @property
    def filename(self) -> str:
        return f"{self.name}-{self.version}-0.{self.format}"


def build_channel(root: Path, packages: list[Pkg], shards: bool = True) -> Path:
    """Build `packages` into the channel directory `root` and index it (in a subprocess)."""
    spec = {"root": str(root), "shards": shards, "packages": [p._asdict() for p in packages]}
    subprocess.run(
        [sys.executable, "-m", "tests.support.conda_channel", json.dumps(spec)],
        check=True,
        cwd=REPO,
        timeout=120,
    )
    return root


def _build(spec: dict[str, Any]) -> None:
    import asyncio
    import datetime

    from rattler.index import index_fs
    from rattler_build import ArchiveType, assemble_package

    root = Path(spec["root"])
    (root / "noarch").mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    for raw in spec["packages"]:
        pkg = Pkg(**{**raw, "depends": tuple(raw["depends"])})
        files = root.parent / f".files-{pkg.name}-{pkg.version}" / "share" / pkg.name
        files.mkdir(parents=True, exist_ok=True)
        (files / "VERSION").write_text(pkg.version + "\n")
        out = root / pkg.subdir
        out.mkdir(exist_ok=True)
        assemble_package(
            pkg.name,
            pkg.version,
            pkg.subdir,
            "0",
            str(out),
            files_dir=str(files.parent.parent),
            noarch="generic" if pkg.subdir == "noarch" else None,
            depends=list(pkg.depends),
            timestamp=stamp,
            archive_type=ArchiveType.Conda if pkg.format == "conda" else ArchiveType.TarBz2,
        )
    asyncio.run(index_fs(root, write_zst=True, write_shards=spec["shards"]))


class Hit(NamedTuple):
    method: str
    path: str
    status: int
    headers: dict[str, str]  # lower-case names


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        """A client closing its pooled connection is not worth a traceback on stderr."""


class ChannelServer:
    """Serves a directory; `hits()` lists what it answered; `failing = True` answers 503."""

    def __init__(self, root: Path, token: str = "") -> None:
        self.root = root
        self.token = token  # when set, every request needs `Authorization: Bearer <token>`
        self.failing = False
        self.log: list[Hit] = []
        self._lock = threading.Lock()
        self._server = _Quiet(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> ChannelServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def mark(self) -> int:
        with self._lock:
            return len(self.log)

    def hits(self, since: int = 0) -> list[Hit]:
        with self._lock:
            return list(self.log[since:])

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, head: bool) -> None:
                status, body, extra = self._resolve()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server._lock:
                    server.log.append(Hit(self.command, self.path, status, headers))
                self.send_response(status)
                for k, v in extra:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def _resolve(self) -> tuple[int, bytes, list[tuple[str, str]]]:
                if server.failing:
                    return 503, b"down\n", []
                if server.token and self.headers["Authorization"] != f"Bearer {server.token}":
                    return 401, b"who are you?\n", [("WWW-Authenticate", "Bearer")]
                rel = self.path.split("?", 1)[0].lstrip("/")
                target = (server.root / rel).resolve()
                if not target.is_relative_to(server.root.resolve()) or not target.is_file():
                    return 404, b"not found\n", []
                body = target.read_bytes()
                etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
                mtime = target.stat().st_mtime
                extra = [("ETag", etag), ("Last-Modified", formatdate(mtime, usegmt=True))]
                inm, ims = self.headers["If-None-Match"], self.headers["If-Modified-Since"]
                if inm is not None and etag in [t.strip() for t in inm.split(",")]:
                    return 304, b"", extra
                if inm is None and ims is not None and int(mtime) <= parsedate_to_datetime(ims).timestamp():
                    return 304, b"", extra
                return 200, body, [*extra, ("Content-Type", "application/octet-stream")]

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


if __name__ == "__main__":
    try:
        _build(json.loads(sys.argv[1]))
    except Exception as exc:  # a clear line, then the exit code
        print(f"conda_channel: {type(exc).__name__}: {exc}", file=sys.stderr)
        os._exit(1)
    sys.stdout.flush()
    os._exit(0)
