"""Real upstream indexes for end-to-end tests, each recording the requests it answered.

Two servers, all on random loopback ports:
- `PypiServer`: pypiserver (a real PEP 503 index) in a subprocess; its access log is parsed.
- `StaticIndex`: a PEP 691 JSON + HTML index generated from the same files, with PEP 658/714
  metadata files, PEP 700 fields and a PEP 592 yank, served by a small threaded stdlib server
  that negotiates on `Accept` (or serves JSON only) and honours `If-None-Match`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final, NamedTuple

from packaging.utils import canonicalize_name
from packaging.version import Version

# One distribution reader for the package (pkgate demo) and the tests, re-exported here.
from pkgate.demo.upstream import Dist as Dist
from pkgate.demo.upstream import read_dist as read_dist
from pkgate.demo.upstream import read_dists as read_dists

JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"
HTML_TYPE: Final = "application/vnd.pypi.simple.v1+html"


class Request(NamedTuple):
    """One answered request as a server saw it."""

    method: str
    path: str
    status: int


def free_port() -> int:
    """A currently free loopback TCP port (for servers that cannot bind port 0 themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 20.0) -> None:
    """Block until `url` answers 200; the servers here need a moment to bind."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout}s")
        time.sleep(0.05)


# --- static PEP 691 index ------------------------------------------------------------------

_BASE_TIME: Final = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _file_entry(dist: Dist, index: int, yanked: Mapping[str, str]) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": dist.filename,
        "url": f"../../files/{dist.filename}",  # relative: resolved against the page URL
        "hashes": {"sha256": dist.sha256},
        "requires-python": dist.requires_python,
        "size": dist.size,
        "upload-time": (_BASE_TIME + timedelta(minutes=index)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "yanked": yanked.get(dist.filename, False),
    }
    if dist.metadata is not None:
        digest = {"sha256": hashlib.sha256(dist.metadata).hexdigest()}
        # PEP 714 name plus the PEP 658 one that older pip releases still read.
        entry["core-metadata"] = digest
        entry["dist-info-metadata"] = digest
    return entry


def _html_page(title: str, anchors: list[str]) -> str:
    body = "\n".join(f"    {a}<br/>" for a in anchors)
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.1">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n{body}\n  </body>\n</html>\n"
    )


def _anchor(entry: Mapping[str, object]) -> str:
    hashes = entry["hashes"]
    assert isinstance(hashes, dict)
    attrs = [f'href="{html.escape(str(entry["url"]))}#sha256={hashes["sha256"]}"']
    if entry["requires-python"]:
        attrs.append(f'data-requires-python="{html.escape(str(entry["requires-python"]))}"')
    meta = entry.get("core-metadata")
    if isinstance(meta, dict):
        attrs.append(f'data-core-metadata="sha256={meta["sha256"]}"')
        attrs.append(f'data-dist-info-metadata="sha256={meta["sha256"]}"')
    if entry["yanked"] is not False:
        attrs.append(f'data-yanked="{html.escape(str(entry["yanked"]))}"')
    return f"<a {' '.join(attrs)}>{html.escape(str(entry['filename']))}</a>"


def build_static_index(
    dists: list[Dist], root: Path, yanked: Mapping[str, str] | None = None
) -> dict[str, dict[str, object]]:
    """Write `root/simple/...` (index.json + index.html per page) and `root/files/...`.

    Returns the JSON project pages by project name, for tests to compare against.
    """
    yanked = yanked or {}
    (root / "files").mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[tuple[int, Dist]]] = {}
    for i, dist in enumerate(dists):
        (root / "files" / dist.filename).write_bytes(dist.path.read_bytes())
        if dist.metadata is not None:
            (root / "files" / f"{dist.filename}.metadata").write_bytes(dist.metadata)
        by_project.setdefault(dist.project, []).append((i, dist))
    meta = {"api-version": "1.1"}
    names = sorted(by_project)
    _write_page(
        root / "simple",
        {"meta": meta, "projects": [{"name": n} for n in names]},
        _html_page("Simple index", [f'<a href="{n}/">{n}</a>' for n in names]),
    )
    pages: dict[str, dict[str, object]] = {}
    for name, items in by_project.items():
        files = [_file_entry(d, i, yanked) for i, d in items]
        versions = sorted({d.version for _, d in items}, key=Version)
        page: dict[str, object] = {"meta": meta, "name": name, "versions": versions, "files": files}
        _write_page(
            root / "simple" / name, page, _html_page(f"Links for {name}", [_anchor(f) for f in files])
        )
        pages[name] = page
    return pages


def _write_page(directory: Path, doc: Mapping[str, object], page: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.json").write_text(json.dumps(doc, indent=1))
    (directory / "index.html").write_text(page)


def negotiate(accept: str | None, json_only: bool) -> str | None:
    """The content type to answer with, or None for 406 (PEP 691 content negotiation)."""
    if not accept:
        return JSON_TYPE if json_only else "text/html"
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        mtype, q = fields[0].lower(), 1.0
        for param in fields[1:]:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        choice = {
            JSON_TYPE: JSON_TYPE,
            "application/vnd.pypi.simple.latest+json": JSON_TYPE,
            HTML_TYPE: HTML_TYPE,
            "application/vnd.pypi.simple.latest+html": HTML_TYPE,
            "text/html": "text/html",
            "*/*": JSON_TYPE if json_only else "text/html",
        }.get(mtype)
        if choice is None or q <= 0 or (json_only and choice != JSON_TYPE):
            continue
        rank = (q, 1 if choice == JSON_TYPE else 0, choice)
        if best is None or rank > best:
            best = rank
    return None if best is None else best[2]


class StaticIndex:
    """Serve a `build_static_index` tree from a thread; `log` lists every answered request."""

    def __init__(self, root: Path, json_only: bool = False) -> None:
        self.root = root
        self.json_only = json_only
        self.log: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def start(self) -> StaticIndex:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def mark(self) -> int:
        """A position in the log; `requests(since=mark)` returns what came after it."""
        with self._lock:
            return len(self.log)

    def requests(self, since: int = 0) -> list[Request]:
        with self._lock:
            return list(self.log[since:])

    def _record(self, request: Request) -> None:
        with self._lock:
            self.log.append(request)

    def _resolve(self, path: str, accept: str | None) -> tuple[int, str, bytes, str | None]:
        """(status, content type, body, redirect location) for a GET of `path`."""
        path = path.split("?", 1)[0]
        if path.startswith("/files/") and "/" not in path[len("/files/") :]:
            target = self.root / "files" / path[len("/files/") :]
            if target.is_file():
                return 200, "application/octet-stream", target.read_bytes(), None
            return 404, "text/plain", b"not found\n", None
        match = re.fullmatch(r"/simple/(?:([^/]+)(/?))?", path)
        if match is None:
            return 404, "text/plain", b"not found\n", None
        name, slash = match.group(1), match.group(2)
        if name is not None and (name != canonicalize_name(name) or not slash):
            return 301, "text/plain", b"", f"/simple/{canonicalize_name(name)}/"
        directory = self.root / "simple" / (name or "")
        if not directory.is_dir():
            return 404, "text/plain", b"not found\n", None
        ctype = negotiate(accept, self.json_only)
        if ctype is None:
            return 406, "text/plain", b"only JSON here\n", None
        page = "index.json" if ctype == JSON_TYPE else "index.html"
        type_header = ctype if ctype != "text/html" else "text/html; charset=utf-8"
        return 200, type_header, (directory / page).read_bytes(), None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, head: bool) -> None:
                status, ctype, body, location = index._resolve(self.path, self.headers["Accept"])
                etag = f'"{hashlib.sha256(ctype.encode() + body).hexdigest()[:32]}"'
                wanted = {
                    t.strip().removeprefix("W/") for t in (self.headers["If-None-Match"] or "").split(",")
                }
                if status == 200 and (etag in wanted or "*" in wanted):
                    status, body = 304, b""
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                if status in (200, 304):
                    self.send_header("ETag", etag)
                    self.send_header("Vary", "Accept")
                if status != 304:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head and status != 304:
                    self.wfile.write(body)

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                index._record(Request(self.command, self.path, int(code)))

            def log_message(self, format: str, *args: object) -> None:
                """Silence stderr; `log_request` records what tests need."""

        return Handler


# --- pypiserver ------------------------------------------------------------------------------

_ACCESS_LINE: Final = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3}) ')


class PypiServer:
    """`pypi-server run` on a random port, unauthenticated, access log in a file."""

    def __init__(self, executable: Path, packages: Path, log_file: Path) -> None:
        self.port = free_port()
        self.log_file = log_file
        self._argv = [
            str(executable), "run", "-p", str(self.port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
            "-v", "--log-file", str(log_file), "--log-stream", "none", "--disable-fallback",
            str(packages),
        ]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def start(self) -> PypiServer:
        with self.log_file.with_suffix(".stderr").open("wb") as err:
            self._proc = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=err)
        wait_http(f"{self.url}/health")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _parse(self) -> list[Request]:
        text = self.log_file.read_text() if self.log_file.exists() else ""
        return [Request(m[1], m[2], int(m[3])) for m in _ACCESS_LINE.finditer(text)]

    def mark(self) -> int:
        return len(self._parse())

    def requests(self, since: int = 0) -> list[Request]:
        """Requests logged after `since`; waits until the log stops growing (it is written
        just after the response, so a fast client can be done before the last line is)."""
        seen = self._parse()
        for _ in range(20):
            time.sleep(0.05)
            again = self._parse()
            if len(again) == len(seen):
                break
            seen = again
        return seen[since:]
