"""A small local upstream for the demo: a static PEP 691 index (JSON + HTML) built from real wheels.

Served by a threaded stdlib server on a loopback port, with ETags (so the gateway's revalidations
and clients' 304s are real) and PEP 658 metadata files. Same layout as the e2e tests' fixture, kept
here because package code must not import tests.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Final

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["Dist", "StaticUpstream", "build_index", "read_dist", "read_dists"]

JSON_TYPE: Final = "application/vnd.pypi.simple.v1+json"


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


def _write_page(directory: Path, doc: Mapping[str, object], title: str, anchors: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.json").write_text(json.dumps(doc, indent=1))
    body = "\n".join(f"    {a}<br/>" for a in anchors)
    (directory / "index.html").write_text(
        '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.1">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n{body}\n  </body>\n</html>\n"
    )


def build_index(dists: list[Dist], root: Path) -> list[str]:
    """Write `root/simple/...` and `root/files/...`; return the project names."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    by_project: dict[str, list[Dist]] = {}
    for d in dists:
        (root / "files" / d.filename).write_bytes(d.path.read_bytes())
        if d.metadata is not None:
            (root / "files" / f"{d.filename}.metadata").write_bytes(d.metadata)
        by_project.setdefault(d.project, []).append(d)
    meta = {"api-version": "1.1"}
    names = sorted(by_project)
    _write_page(
        root / "simple",
        {"meta": meta, "projects": [{"name": n} for n in names]},
        "Simple index",
        [f'<a href="{n}/">{n}</a>' for n in names],
    )
    for name, items in by_project.items():
        files: list[dict[str, object]] = []
        anchors = []
        for d in items:
            entry: dict[str, object] = {
                "filename": d.filename,
                "url": f"../../files/{d.filename}",
                "hashes": {"sha256": d.sha256},
                "requires-python": d.requires_python,
            }
            attrs = f'href="../../files/{html.escape(d.filename)}#sha256={d.sha256}"'
            if d.metadata is not None:
                digest = {"sha256": hashlib.sha256(d.metadata).hexdigest()}
                entry["core-metadata"] = entry["dist-info-metadata"] = digest
                attrs += f' data-core-metadata="sha256={digest["sha256"]}"'
            if d.requires_python:
                attrs += f' data-requires-python="{html.escape(d.requires_python)}"'
            files.append(entry)
            anchors.append(f"<a {attrs}>{html.escape(d.filename)}</a>")
        versions = sorted({d.version for d in items}, key=_version_key)
        doc = {"meta": meta, "name": name, "versions": versions, "files": files}
        _write_page(root / "simple" / name, doc, f"Links for {name}", anchors)
    return names


class StaticUpstream:
    """Serves a `build_index` tree on 127.0.0.1 from a daemon thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def simple_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def start(self) -> StaticUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def resolve(self, path: str, accept: str) -> tuple[int, str, bytes]:
        path = path.split("?", 1)[0]
        rel = path.lstrip("/")
        if ".." in rel.split("/"):
            return 404, "text/plain", b"not found\n"
        if rel.startswith("files/"):
            target = self.root / rel
            if target.is_file():
                return 200, "application/octet-stream", target.read_bytes()
            return 404, "text/plain", b"not found\n"
        directory = self.root / rel
        if not rel.startswith("simple") or not directory.is_dir():
            return 404, "text/plain", b"not found\n"
        if JSON_TYPE in accept or "+json" in accept:
            return 200, JSON_TYPE, (directory / "index.json").read_bytes()
        return 200, "text/html; charset=utf-8", (directory / "index.html").read_bytes()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(head=False)

            def do_HEAD(self) -> None:
                self._answer(head=True)

            def _answer(self, head: bool) -> None:
                status, ctype, body = upstream.resolve(self.path, self.headers.get("Accept", ""))
                etag = f'"{hashlib.sha256(ctype.encode() + body).hexdigest()[:32]}"'
                if status == 200 and etag in (self.headers.get("If-None-Match") or ""):
                    status, body = 304, b""
                self.send_response(status)
                self.send_header("ETag", etag)
                self.send_header("Vary", "Accept")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the gateway records what matters."""

        return Handler
