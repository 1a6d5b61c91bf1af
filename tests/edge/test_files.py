"""Plain files under `/dl/`: the URL template, what is a 404, the events (in-process gateway)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate import config
from pkgate.config import FileSource
from pkgate.edge.app import ASGIApp
from pkgate.edge.files.ecosystem import Source
from pkgate.events import decode
from pkgate.events.spool import iter_all

TEMPLATE = "https://github.com/acme/tool/releases/download/v{version}/{file}"
FILES = f"""
[[files]]
name = "tool"
url = "{TEMPLATE}"
files = ["tool-*.tar.gz", "tool-*.zip"]
versions = ["1.*", "2.0.0"]
[[files]]
name = "data"
url = "https://cdn.example.net/data/{{file}}"
"""


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, ASGIApp]]:
    path = tmp_path / "pkgate.toml"
    path.write_text(
        f'[gateway]\nsecret = "files-test-secret-0123456789"\n[storage]\ndata_dir = "{tmp_path}"\n{FILES}'
    )
    app = ASGIApp(config.load(path), source=str(path))
    await app.worker.start()
    app.gateway = app.worker.gateway
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        yield client, app
    await app.worker.close()


async def test_download_is_a_redirect_to_the_template(gw: tuple[httpx.AsyncClient, ASGIApp]) -> None:
    client, app = gw
    r = await client.get(
        "/dl/tool/1.4.2/tool-1.4.2-linux-x86_64.tar.gz", headers={"user-agent": "curl/8.5.0"}
    )
    assert r.status_code == 302
    assert r.headers["location"] == (
        "https://github.com/acme/tool/releases/download/v1.4.2/tool-1.4.2-linux-x86_64.tar.gz"
    )
    head = await client.head("/dl/tool/1.4.2/tool-1.4.2-linux-x86_64.tar.gz")
    assert head.status_code == 302
    data = await client.get("/dl/data/anything/set%2B1.csv")
    assert data.headers["location"] == "https://cdn.example.net/data/set+1.csv"
    evs = [
        (e.ecosystem, e.kind, e.method, e.project, e.version, e.filename) for e in map(decode, _spool(app))
    ]
    assert evs == [
        ("files", "file", "GET", "tool", "1.4.2", "tool-1.4.2-linux-x86_64.tar.gz"),
        ("files", "file", "HEAD", "tool", "1.4.2", "tool-1.4.2-linux-x86_64.tar.gz"),
        ("files", "file", "GET", "data", "anything", "set+1.csv"),
    ]


def _spool(app: ASGIApp) -> list[bytes]:
    return [p for _, p in iter_all(app.worker.cfg.paths.spool)]


@pytest.mark.parametrize(
    "path",
    [
        "/dl/tool/1.4.2/other-1.4.2.tar.gz",  # file outside the patterns
        "/dl/tool/3.0.0/tool-3.0.0.zip",  # version outside the patterns
        "/dl/tool/1.4.2/../../evil",
        "/dl/tool/1.4.2/%2e%2e",
        "/dl/tool/1.4.2/a%2Fb.zip",
        "/dl/tool/1.4.2",
        "/dl/tool/1.4.2/tool-1.zip/more",
        "/dl/nope/1.0/tool-1.zip",
        "/dl/",
    ],
)
async def test_anything_outside_the_template_is_404(gw: tuple[httpx.AsyncClient, ASGIApp], path: str) -> None:
    client, _ = gw
    r = await client.get(path)
    assert r.status_code == 404
    assert "location" not in r.headers


async def test_writes_are_refused(gw: tuple[httpx.AsyncClient, ASGIApp]) -> None:
    client, _ = gw
    assert (await client.put("/dl/tool/1.4.2/tool-1.4.2.zip")).status_code == 405


async def test_no_files_configured_claims_nothing(tmp_path: Path) -> None:
    path = tmp_path / "pkgate.toml"
    path.write_text(
        f'[gateway]\nsecret = "files-test-secret-0123456789"\n[storage]\ndata_dir = "{tmp_path}"\n'
    )
    app = ASGIApp(config.load(path), source=str(path))
    await app.worker.start()
    app.gateway = app.worker.gateway
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        assert (await client.get("/dl/tool/1.0/tool-1.0.zip")).status_code == 404
    assert [decode(p).ecosystem for p in _spool(app)] == ["gateway"]
    await app.worker.close()


@given(st.text(max_size=40), st.text(max_size=40))
def test_target_never_leaves_the_template(version: str, filename: str) -> None:
    """Whatever a client writes, a target stays on the template's host, one segment per field."""
    src = Source(FileSource(name="tool", url=TEMPLATE))
    url = src.target(version, filename)
    if url is None:
        return
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "github.com")
    assert parts.path.startswith("/acme/tool/releases/download/v")
    assert parts.path.count("/") == TEMPLATE.count("/") - 2
    assert not parts.query
    assert not parts.fragment
    assert ".." not in parts.path.split("/")
