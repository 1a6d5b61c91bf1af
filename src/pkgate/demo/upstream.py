"""A small local upstream: a static PEP 691 index (JSON + HTML) built from real wheels.

`pkgate demo` serves its simulated clients from it, and the tests use the same one (package code
must not import tests). `build_index` writes the pages, with PEP 658/714 metadata files, PEP 700
fields and PEP 592 yanks; `StaticUpstream` serves them from a threaded stdlib server on a loopback
port, negotiating on `Accept` (or JSON only), redirecting non-normalised names, with ETags and
`If-None-Match` (so the gateway's revalidations and clients' 304s are real), and keeps a log of what
it answered.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import html
import json
import re
import tarfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final, NamedTuple

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = [
    "HTML_TYPE",
    "JSON_TYPE",
    "Dist",
    "Request",
    "StaticUpstream",
    "build_index",
    "read_dist",
    "read_dists",
]

JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"
HTML_TYPE: Final = "application/vnd.pypi.simple.v1+html"


@dataclass(frozen=True)
class Dist:
    """What an index needs to know about one file, read from the file itself."""

    path: Path
    project: str  # normalised
    version: str
    sha256: str
    size: int
    requires_python: str | None
    metadata: bytes | None  # a wheel's METADATA (served as PEP 658 `.metadata`); None for sdists

    @property
    def filename(self) -> str:
        return self.path.name


def read_dist(path: Path) -> Dist:
    """Name, version and Requires-Python from a wheel's METADATA or an sdist's PKG-INFO."""
    data = path.read_bytes()
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as zf:
            member = next(n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n))
            raw = zf.read(member)
        metadata: bytes | None = raw
    else:
        with tarfile.open(path) as tf:
            info = next(m for m in tf.getmembers() if re.fullmatch(r"[^/]+/PKG-INFO", m.name))
            handle = tf.extractfile(info)
            if handle is None:
                raise ValueError(f"{path.name}: PKG-INFO is not a file")
            raw = handle.read()
        metadata = None
    headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw)
    return Dist(
        path=path,
        project=str(canonicalize_name(str(headers["Name"]))),
        version=str(headers["Version"]),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        requires_python=str(headers["Requires-Python"]) if headers["Requires-Python"] else None,
        metadata=metadata,
    )


def read_dists(directory: Path) -> list[Dist]:
    """Every readable wheel and sdist in `directory` (unreadable files are skipped)."""
    out = []
    for p in sorted(directory.iterdir()):
        if p.name.endswith((".whl", ".tar.gz")):
            try:
                out.append(read_dist(p))
            except (OSError, ValueError, KeyError, StopIteration, zipfile.BadZipFile, tarfile.TarError):
                continue
    return out


def _version_key(text: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(text))
    except InvalidVersion:
        return (0, text)


# --- the pages ------------------------------------------------------------------------------------

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


def _write_page(directory: Path, doc: Mapping[str, object], page: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.json").write_text(json.dumps(doc, indent=1))
    (directory / "index.html").write_text(page)


def build_index(
    dists: list[Dist], root: Path, yanked: Mapping[str, str] | None = None
) -> dict[str, dict[str, object]]:
    """Write `root/simple/...` (index.json + index.html per page) and `root/files/...`.

    Returns the JSON project pages by project name (sorted), for tests to compare against.
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
    for name in names:
        items = by_project[name]
        files = [_file_entry(d, i, yanked) for i, d in items]
        versions = sorted({d.version for _, d in items}, key=_version_key)
        page: dict[str, object] = {"meta": meta, "name": name, "versions": versions, "files": files}
        _write_page(
            root / "simple" / name, page, _html_page(f"Links for {name}", [_anchor(f) for f in files])
        )
        pages[name] = page
    return pages


# --- serving them -------------------------------------------------------------------------------


class Request(NamedTuple):
    """One answered request as the server saw it."""

    method: str
    path: str
    status: int


class _Answer(NamedTuple):
    status: int
    content_type: str
    body: bytes
    location: str | None = None


_NOT_FOUND: Final = _Answer(404, "text/plain", b"not found\n")


def negotiate(accept: str | None, json_only: bool) -> str | None:
    """The content type to answer with, or None for 406 (PEP 691 content negotiation)."""
    if not accept:
        return JSON_TYPE if json_only else "text/html"
    best: str | None = None
    best_rank = (0.0, 0, "")  # quality, JSON first, then the type's name: as the tests expect
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
        if best is None or rank > best_rank:
            best, best_rank = choice, rank
    return best


class StaticUpstream:
    """Serve a `build_index` tree from a daemon thread; `requests()` lists what it answered."""

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

    def start(self) -> StaticUpstream:
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

    def resolve(self, path: str, accept: str | None) -> _Answer:
        """The answer to a GET of `path`."""
        path = path.split("?", 1)[0]
        if path.startswith("/files/") and "/" not in path[len("/files/") :]:
            target = self.root / "files" / path[len("/files/") :]
            if target.name not in ("", ".", "..") and target.is_file():
                return _Answer(200, "application/octet-stream", target.read_bytes())
            return _NOT_FOUND
        match = re.fullmatch(r"/simple/(?:([^/]+)(/?))?", path)
        if match is None:
            return _NOT_FOUND
        name, slash = match.group(1), match.group(2)
        if name is not None and (name != canonicalize_name(name) or not slash):
            return _Answer(301, "text/plain", b"", f"/simple/{canonicalize_name(name)}/")
        directory = self.root / "simple" / (name or "")
        if not directory.is_dir():
            return _NOT_FOUND
        ctype = negotiate(accept, self.json_only)
        if ctype is None:
            return _Answer(406, "text/plain", b"only JSON here\n")
        page = "index.json" if ctype == JSON_TYPE else "index.html"
        type_header = ctype if ctype != "text/html" else "text/html; charset=utf-8"
        return _Answer(200, type_header, (directory / page).read_bytes())

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, head: bool) -> None:
                status, ctype, body, location = upstream.resolve(self.path, self.headers["Accept"])
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
                upstream._record(Request(self.command, self.path, int(code)))

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: `log_request` records what matters."""

        return Handler
