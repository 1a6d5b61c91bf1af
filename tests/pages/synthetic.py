"""A synthetic upstream index on a loopback port: every field of PEPs 503, 592, 629, 658, 691, 700,
714, 740 and 792, plus keys, attributes and `<meta>` tags no PEP defines, in both formats.

The server answers JSON to a client that names the PEP 691 JSON type and HTML otherwise (as PyPI
does). Tests may put any document at any path (`put`), e.g. hypothesis-made ones.
"""

from __future__ import annotations

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

JSON_V1: Final = "application/vnd.pypi.simple.v1+json"
SHA_A: Final = "a" * 64
SHA_B: Final = "b" * 64
META_A: Final = "c" * 64
MD5_A: Final = "d" * 32


def project_json(base: str) -> dict[str, Any]:
    """The JSON page of project `demo`; `base` is the server's URL. Key order is deliberately not
    alphabetical, and types are what PyPI sends (`_last-serial` a string)."""
    return {
        "meta": {"_last-serial": "31038302", "api-version": "1.4", "x-meta-extra": {"n": [1, 2.5, None]}},
        "name": "demo",
        "x-top-extra": 123456789012345678901234567890,
        "project-status": {"status": "deprecated", "reason": "use <demo2> & co", "x-status-extra": True},
        "alternate-locations": [f"{base}/elsewhere/demo/"],  # PEP 708: no PEP of the list, kept as is
        "files": [
            {
                "url": f"{base}/packages/aa/demo-1.0.tar.gz",
                "filename": "demo-1.0.tar.gz",
                "hashes": {"sha256": SHA_A, "md5": MD5_A},
                "requires-python": ">=3.8, <4",
                "dist-info-metadata": {"sha256": META_A},
                "core-metadata": {"sha256": META_A},
                "gpg-sig": False,
                "yanked": False,
                "size": 1234,
                "upload-time": "2024-01-02T03:04:05.678901Z",
                "provenance": f"{base}/integrity/demo/1.0/demo-1.0.tar.gz/provenance",
                "x-file-extra": ["kept", {"deep": None}],
            },
            {
                "filename": "demo-2.0-py3-none-any.whl",
                "hashes": {"sha256": SHA_B},
                "url": "../../packages/bb/demo-2.0-py3-none-any.whl",  # relative to the page
                "requires-python": None,
                "yanked": "broken build",
                "core-metadata": True,
                "dist-info-metadata": True,
                "gpg-sig": True,
                "size": 99,
                "upload-time": "2024-02-03T04:05:06Z",
                "provenance": None,
                "data-x-extra": 0.5,
            },
        ],
        "versions": ["1.0", "2.0"],
    }


def project_html(base: str) -> str:
    """The same project as PEP 503 HTML, with a `<base href>` that relative links resolve against."""
    return f"""<!DOCTYPE html>
<html>
  <head>
    <meta name="pypi:repository-version" content="1.4">
    <meta name="pypi:project-status" content="deprecated">
    <meta name="pypi:project-status-reason" content="use &lt;demo2&gt; &amp; co">
    <meta name="pypi:tracks" content="{base}/tracked/demo/">
    <meta name="x-custom" content="kept" data-x="1">
    <base href="{base}/packages/">
    <title>Links for demo</title>
  </head>
  <body>
    <h1 class=title>Links for demo</h1>
    <a data-x-first="1" href="{base}/packages/aa/demo-1.0.tar.gz#sha256={SHA_A}" data-requires-python="&gt;=3.8, &lt;4" data-dist-info-metadata="sha256={META_A}" data-core-metadata="sha256={META_A}" data-gpg-sig="false" data-provenance="{base}/integrity/demo/1.0/demo-1.0.tar.gz/provenance" class='dist main' data-empty>demo-1.0.tar.gz</a><br/>
    <A HREF="bb/demo-2.0-py3-none-any.whl#sha256={SHA_B}" data-yanked="broken build" data-core-metadata="true" data-dist-info-metadata="true" data-gpg-sig="true" data-x-extra=unquoted>demo-2.0-py3-none-any.whl</A><br/>
    <a name="anchor-only">not a file</a>
  </body>
</html>
<!--SERIAL 31038302-->
"""


def root_json() -> dict[str, Any]:
    return {
        "meta": {"api-version": "1.4", "_last-serial": "7", "x-root-extra": [True]},
        "projects": [{"name": "Demo", "x-project-extra": 1}, {"name": "other_Thing"}],
        "x-top": "kept",
    }


def root_html() -> str:
    return """<!DOCTYPE html>
<html><head><meta name="pypi:repository-version" content="1.4"><meta name="x-root" content="kept">
<title>Simple index</title></head>
<body>
<a href="/simple/demo/" data-x="1">Demo</a>
<a class=x href="/simple/other-thing/">other_Thing</a>
</body></html>
"""


class SyntheticIndex:
    """Serve `/simple/` and `/simple/demo/` in both formats from a thread; `put` adds documents."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._docs: dict[str, tuple[bytes, bytes]] = {}  # path -> (json body, html body)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.put("/simple/demo/", project_json(self.url), project_html(self.url))
        self.put("/simple/", root_json(), root_html())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def start(self) -> SyntheticIndex:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def put(self, path: str, doc: dict[str, Any] | bytes, html: str = "") -> None:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        with self._lock:
            self._docs[path] = (body, html.encode())

    def get(self, path: str) -> tuple[bytes, bytes] | None:
        with self._lock:
            return copy.copy(self._docs.get(path))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        index = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = index.get(self.path)
                if found is None:
                    self.send_response(404)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                wants_json = JSON_V1 in (self.headers.get("accept") or "").partition(",")[0]
                body = found[0] if wants_json or not found[1] else found[1]
                ctype = JSON_V1 if body is found[0] else "text/html; charset=utf-8"
                self.send_response(200)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
