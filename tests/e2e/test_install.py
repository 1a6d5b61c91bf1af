"""End to end: real pip and uv install real distributions through the real gateway.

Each gateway test drives clients through a recording proxy (ground truth for what the clients
asked), stops the gateway with SIGTERM (which drains the spool), then checks that the store holds
exactly one event per client request, one `file` 302 per file the upstream served, and that
`pkgate report` counts the same things.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.request
from collections import Counter
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from .conftest import DISTS_DIR, YANKED, Clients, Gateway, StartGateway, installed
from .upstreams import JSON_TYPE, Dist, PypiServer, Request, StaticIndex

pytestmark = pytest.mark.e2e

DIST_SUFFIXES = (".whl", ".tar.gz", ".zip")


def _get(url: str, accept: str | None = None, etag: str | None = None) -> tuple[int, Message, bytes]:
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
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


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


# --- checking the store against the ground truth ----------------------------------------------


def _kind(path: str) -> str:
    """The event kind a client request path must be recorded as."""
    path = path.split("?", 1)[0]
    if path == "/simple/":
        return "index-root"
    if re.fullmatch(r"/simple/[^/]+/?", path):
        return "index-project"
    if path.startswith("/files/"):
        return "metadata" if path.endswith(".metadata") else "file"
    return "other"


def _project_version(filename: str) -> tuple[str, str]:
    if filename.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return str(name), str(version)


def _upstream_fetches(
    requests: list[Request], suffix: str | tuple[str, ...], method: str = "GET"
) -> Counter[str]:
    """Filenames the clients asked the upstream for after the gateway's redirect, whatever the
    answer (uv revalidates with If-None-Match and gets 304s, range reads give 206s)."""
    names: Counter[str] = Counter()
    for req in requests:
        name = req.path.split("?", 1)[0].rsplit("/", 1)[-1]
        if req.method == method and name.endswith(suffix):
            names[name] += 1
    return names


def _recorded(path: str, status: int) -> str:
    """The path an event records: a verified file link without its signed token."""
    parts = path.split("/")  # "", "files", project, token, file
    if status < 400 and len(parts) == 5 and parts[1] == "files":
        return "/".join([*parts[:3], parts[4]])
    return path


def check_store(
    gateway: Gateway, upstream: list[Request], client_caches: bool = False
) -> list[dict[str, Any]]:
    """Stop the gateway and compare its events with what the clients and the upstream saw.

    `client_caches`: the client keeps an HTTP cache for the run (uv does, even with
    UV_NO_CACHE), so it may follow a redirect without asking the upstream again.
    """
    assert gateway.stop() == 0, gateway.output()
    client = gateway.proxy.requests()
    events = gateway.events()
    assert client, "the clients made no request through the gateway"
    assert len({e["id"] for e in events}) == len(events), "duplicate event ids"
    # Exactly one event per client request: same method, path and status, nothing more or less.
    stored = Counter((e["method"], e["path"].split("?", 1)[0], e["status"]) for e in events)
    asked = Counter((r.method, _recorded(r.path.split("?", 1)[0], r.status), r.status) for r in client)
    assert stored == asked
    assert Counter(e["kind"] for e in events) == Counter(_kind(r.path) for r in client)
    # Each file request the upstream saw came through one `file` 302 (a file fetched twice was
    # redirected twice); the same for HEADs and for PEP 658 metadata.
    trace = "client:\n" + "\n".join(map(str, client)) + "\nupstream:\n" + "\n".join(map(str, upstream))
    assert _upstream_fetches(upstream, DIST_SUFFIXES), "no file was fetched from the upstream"
    redirects = [e for e in events if e["kind"] in ("file", "metadata") and e["status"] == 302]
    for kind, suffix, method in (
        ("file", DIST_SUFFIXES, "GET"),
        ("file", DIST_SUFFIXES, "HEAD"),
        ("metadata", ".metadata", "GET"),
    ):
        got = Counter(
            e["filename"] + (".metadata" if kind == "metadata" else "")
            for e in redirects
            if e["kind"] == kind and e["method"] == method
        )
        want = _upstream_fetches(upstream, suffix, method)
        if client_caches:
            assert set(got) == set(want), trace
            assert got >= want, trace
        else:
            assert got == want, trace
    for event in redirects:
        assert (event["project"], event["version"]) == _project_version(event["filename"])
    assert all(e["source_id"] for e in events), "every event carries a source id"
    for event in events:
        if event["kind"].startswith("index-") and event["status"] in (200, 304):
            assert event["upstream"] == "local"
            assert event["cache"] in ("hit", "miss", "revalidated", "stale")
    check_report(gateway, events)
    return events


def check_report(gateway: Gateway, events: list[dict[str, Any]]) -> None:
    """`pkgate report` per (project, version), recomputed from the events and the upstream log."""
    expected: dict[tuple[str, str | None], Counter[str]] = {}
    for e in events:
        if e["project"] is None:
            continue
        row = expected.setdefault((e["project"], e["version"]), Counter())
        index, redirect = e["kind"].startswith("index-"), 300 <= e["status"] < 400
        ranged = e["kind"] == "file" and e["method"] == "GET" and redirect and e["partial"]
        row["downloads"] += e["kind"] == "file" and e["method"] == "GET" and redirect and not ranged
        row["index_hits"] += index and e["status"] == 200
        row["not_modified"] += index and e["status"] == 304
        row["head"] += e["kind"] == "file" and e["method"] == "HEAD"
        row["metadata"] += (e["kind"] == "metadata" and redirect) or ranged
        row["failed"] += e["status"] >= 400
    rows = {(r["project"], r["version"]): r for r in gateway.report()}
    assert set(rows) == set(expected)
    for key, got in rows.items():
        for field in ("downloads", "index_hits", "not_modified", "head", "metadata", "failed"):
            assert got[field] == expected[key][field], (key, field)
        assert got["sources"] == 1, key  # one client machine, one day
    by_version = Counter({k: r["downloads"] for k, r in rows.items() if r["downloads"]})
    downloaded = [
        e["filename"]
        for e in events
        if e["kind"] == "file" and e["method"] == "GET" and e["status"] == 302 and not e["partial"]
    ]
    assert by_version == Counter(map(_project_version, downloaded))


# --- installs through the gateway ------------------------------------------------------------


def test_pip_install_from_pypiserver(
    start_gateway: StartGateway, pypiserver: PypiServer, clients: Clients, tmp_path: Path
) -> None:
    """Deps resolved, an sdist built (flit_core fetched through the gateway by build isolation)."""
    gateway = start_gateway(pypiserver.simple_url)
    mark = pypiserver.mark()
    python = clients.fresh_venv(tmp_path / "venv")
    done = clients.pip("install", "--index-url", gateway.url, "jaraco.functools", "tomli", python=python)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(python) == {"jaraco-functools": "4.0.1", "more-itertools": "10.3.0", "tomli": "2.0.1"}
    events = check_store(gateway, pypiserver.requests(mark))
    assert all(e["user_agent"].startswith("pip/") for e in events)
    projects = {e["project"] for e in events if e["kind"] == "index-project" and e["status"] == 200}
    assert projects == {"jaraco-functools", "more-itertools", "tomli", "flit-core"}


def test_pip_download_require_hashes(
    start_gateway: StartGateway, pypiserver: PypiServer, clients: Clients, dists: list[Dist], tmp_path: Path
) -> None:
    gateway = start_gateway(pypiserver.simple_url)
    mark = pypiserver.mark()
    wanted = {"six-1.16.0-py2.py3-none-any.whl", "jaraco.functools-4.0.1-py3-none-any.whl",
              "more_itertools-10.2.0-py3-none-any.whl"}  # fmt: skip
    pins = [d for d in dists if d.filename in wanted]
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("".join(f"{d.project}=={d.version} --hash=sha256:{d.sha256}\n" for d in pins))
    dest = tmp_path / "dl"
    done = clients.pip(
        "download", "--require-hashes", "-r", str(reqs), "--index-url", gateway.url, "-d", str(dest)
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in dest.iterdir()) == sorted(wanted)
    for path in dest.iterdir():
        assert path.read_bytes() == (DISTS_DIR / path.name).read_bytes()
    # A wrong hash is refused, so the check above was a real one.
    reqs.write_text(f"six==1.16.0 --hash=sha256:{'0' * 64}\n")
    bad = clients.pip(
        "download",
        "--require-hashes",
        "-r",
        str(reqs),
        "--index-url",
        gateway.url,
        "-d",
        str(tmp_path / "bad"),
    )
    assert bad.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in bad.stderr
    check_store(gateway, pypiserver.requests(mark))


def test_uv_install_from_pypiserver(
    start_gateway: StartGateway, pypiserver: PypiServer, clients: Clients, tmp_path: Path
) -> None:
    """The loader is set to wait an hour: only the drain on SIGTERM can bring the events in."""
    gateway = start_gateway(pypiserver.simple_url, load_interval=3600)
    mark = pypiserver.mark()
    python = clients.uv_venv(tmp_path / "venv")
    done = clients.uv(
        "pip", "install", "--python", str(python), "--index-url", gateway.url, "jaraco.functools", "tomli"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(python) == {"jaraco-functools": "4.0.1", "more-itertools": "10.3.0", "tomli": "2.0.1"}
    assert gateway.healthz()["spool_lag"] > 0  # nothing loaded yet
    events = check_store(gateway, pypiserver.requests(mark), client_caches=True)
    assert all(e["user_agent"].startswith("uv/") for e in events)


def test_pip_install_from_static_json_index(
    start_gateway: StartGateway, static_index: StaticIndex, clients: Clients, tmp_path: Path
) -> None:
    """PEP 658 metadata is offered, so pip fetches `.metadata` first; the yanked release is skipped."""
    gateway = start_gateway(static_index.simple_url)
    mark = static_index.mark()
    python = clients.fresh_venv(tmp_path / "venv")
    done = clients.pip("install", "--index-url", gateway.url, "jaraco.functools", python=python)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(python) == {"jaraco-functools": "4.0.1", "more-itertools": "10.2.0"}
    events = check_store(gateway, static_index.requests(mark))
    assert {e["filename"] for e in events if e["kind"] == "metadata" and e["status"] == 302} == {
        "jaraco.functools-4.0.1-py3-none-any.whl",
        "more_itertools-10.2.0-py3-none-any.whl",
    }


def test_uv_install_from_static_json_index(
    start_gateway: StartGateway, static_index: StaticIndex, clients: Clients, tmp_path: Path
) -> None:
    gateway = start_gateway(static_index.simple_url)
    mark = static_index.mark()
    python = clients.uv_venv(tmp_path / "venv")
    done = clients.uv(
        "pip", "install", "--python", str(python), "--index-url", gateway.url, "jaraco.functools", "tomli"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(python) == {"jaraco-functools": "4.0.1", "more-itertools": "10.2.0", "tomli": "2.0.1"}
    events = check_store(gateway, static_index.requests(mark), client_caches=True)
    assert any(e["kind"] == "metadata" for e in events)


def test_non_normalised_name_through_json_only_upstream(
    start_gateway: StartGateway, static_json_index: StaticIndex, clients: Clients, tmp_path: Path
) -> None:
    """The upstream speaks JSON only: pip gets JSON, an HTML-only client gets HTML converted by
    the gateway, and a revalidation with the page's ETag is answered 304."""
    gateway = start_gateway(static_json_index.simple_url)
    mark = static_json_index.mark()
    python = clients.fresh_venv(tmp_path / "venv")
    done = clients.pip("install", "--index-url", gateway.url, "Jaraco_Functools", python=python)
    assert done.returncode == 0, done.stdout + done.stderr
    assert installed(python) == {"jaraco-functools": "4.0.1", "more-itertools": "10.2.0"}
    status, headers, body = _get(gateway.url + "more-itertools/", accept="text/html")
    assert status == 200
    assert headers["Content-Type"].startswith(("text/html", "application/vnd.pypi.simple.v1+html"))
    assert b"more_itertools-10.2.0-py3-none-any.whl" in body
    assert b"data-yanked" in body
    assert _get(gateway.url + "more-itertools/", accept="text/html", etag=headers["ETag"])[0] == 304
    gateway.wait_drained()  # the loader keeps up while serving, not only on shutdown
    events = check_store(gateway, static_json_index.requests(mark))
    assert [e["conditional"] for e in events if e["status"] == 304] == [True]
    assert all(canonicalize_name(e["project"]) == e["project"] for e in events if e["project"])
