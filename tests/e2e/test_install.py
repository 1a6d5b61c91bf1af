"""End to end: real pip and uv install real distributions through the real gateway.

Each gateway test drives clients through a recording proxy (ground truth for what the clients
asked), stops the gateway with SIGTERM (which drains the spool), then checks that the store holds
exactly one event per client request, one `file` 302 per file the upstream served, and that
`pkgate report` counts the same things.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest

from .conftest import YANKED, Clients, Gateway, installed
from .upstreams import JSON_TYPE, Dist, PypiServer, Request, StaticIndex

pytestmark = pytest.mark.e2e

StartGateway = Callable[[str], Gateway]
DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")


def _get(url: str, accept: str | None = None, etag: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """A plain GET that returns 3xx/4xx instead of raising or following redirects."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    req = urllib.request.Request(url)
    if accept:
        req.add_header("Accept", accept)
    if etag:
        req.add_header("If-None-Match", etag)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items()), err.read()


# --- the fixtures themselves ------------------------------------------------------------------


def test_static_index_pages(static_index: StaticIndex, dists: list[Dist]) -> None:
    status, headers, body = _get(static_index.simple_url + "more-itertools/", accept=JSON_TYPE)
    assert status == 200
    assert headers["Content-Type"] == JSON_TYPE
    page = json.loads(body)
    assert page["versions"] == ["10.2.0", "10.3.0"]
    by_name = {f["filename"]: f for f in page["files"]}
    yanked_name = next(iter(YANKED))
    assert by_name[yanked_name]["yanked"] == YANKED[yanked_name]
    for dist in dists:
        if dist.project != "more-itertools":
            continue
        entry = by_name[dist.filename]
        assert entry["hashes"] == {"sha256": dist.sha256}
        assert entry["size"] == dist.size
        assert entry["requires-python"] == dist.requires_python
        file_url = urljoin(static_index.simple_url + "more-itertools/", entry["url"])
        file_status, _, data = _get(file_url)
        assert file_status == 200
        assert hashlib.sha256(data).hexdigest() == dist.sha256
        meta_status, _, meta = _get(file_url + ".metadata")
        assert meta_status == 200
        assert hashlib.sha256(meta).hexdigest() == entry["core-metadata"]["sha256"]
        assert meta.startswith(b"Metadata-Version:")
    status, headers, html = _get(static_index.simple_url + "more-itertools/", accept="text/html")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert html.count(b"data-core-metadata=") == 2
    assert html.count(b"data-yanked=") == 1


def test_static_index_conditional_and_redirects(
    static_index: StaticIndex, static_json_index: StaticIndex
) -> None:
    url = static_index.simple_url + "six/"
    status, headers, _ = _get(url, accept=JSON_TYPE)
    assert status == 200
    assert _get(url, accept=JSON_TYPE, etag=headers["ETag"])[0] == 304
    # The HTML rendition is a different representation: its ETag differs.
    assert _get(url, accept="text/html", etag=headers["ETag"])[0] == 200
    status, headers, _ = _get(static_index.simple_url + "Jaraco.Functools/")
    assert (status, headers["Location"]) == (301, "/simple/jaraco-functools/")
    assert _get(static_json_index.simple_url + "six/", accept="text/html")[0] == 406
    status, headers, _ = _get(static_json_index.simple_url + "six/", accept="*/*")
    assert (status, headers["Content-Type"]) == (200, JSON_TYPE)
    log = static_index.requests()
    assert Request("GET", "/simple/six/", 304) in log
    assert Request("GET", "/simple/Jaraco.Functools/", 301) in log


def test_clients_direct_and_isolated(clients: Clients, pypiserver: PypiServer, tmp_path: Path) -> None:
    """pip and uv install from pypiserver directly, and nothing else reaches them: appdirs
    is on this machine's configured indexes but not on ours, so it must fail."""
    mark = pypiserver.mark()
    python = clients.fresh_venv(tmp_path / "venv")
    done = clients.pip("install", "--index-url", pypiserver.simple_url, "six", python=python)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(python) == {"six": "1.16.0"}
    assert Request("GET", "/packages/six-1.16.0-py2.py3-none-any.whl", 200) in pypiserver.requests(mark)
    for argv in (
        ["install", "--index-url", pypiserver.simple_url, "appdirs"],
        ["download", "--index-url", pypiserver.simple_url, "-d", str(tmp_path / "dl"), "appdirs"],
    ):
        refused = clients.pip(*argv, python=python if argv[0] == "install" else None)
        assert refused.returncode != 0, refused.stdout
    uv_python = clients.uv_venv(tmp_path / "uv-venv")
    refused = clients.uv("pip", "install", "--python", str(uv_python), "--index-url",
                         pypiserver.simple_url, "appdirs")  # fmt: skip
    assert refused.returncode != 0, refused.stdout
    assert "appdirs" not in installed(python)
    assert "appdirs" not in installed(uv_python)
