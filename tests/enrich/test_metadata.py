"""Requires-Dist parsing, index pages, and fetching from a real static index with real wheels."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.demo.upstream import StaticUpstream, build_index, read_dists
from pkgate.enrich.metadata import (
    Fetched,
    MetadataFetcher,
    UpstreamSite,
    _wheel_metadata,
    index_files,
    requires_dist,
)

REPO = Path(__file__).resolve().parents[2]
DEPS = REPO / ".cache" / "test-dists-deps"


def test_requires_dist_names_any_marker_or_extra() -> None:
    text = (
        "Metadata-Version: 2.1\nName: requests\nVersion: 2.32.3\n"
        "Requires-Dist: charset-normalizer (<4,>=2)\nRequires-Dist: idna<4,>=2.5\n"
        'Requires-Dist: PySocks!=1.5.7,>=1.5.6; extra == "socks"\n'
        'Requires-Dist: Typing_Extensions; python_version < "3.8"\n'
        "Requires-Dist: not a requirement at all ((\n\nthe body: Requires-Dist: ignored\n"
    )
    assert requires_dist(text) == ("charset-normalizer", "idna", "pysocks", "typing-extensions")
    assert requires_dist("") == ()


@given(st.text(max_size=400))
def test_requires_dist_never_raises(text: str) -> None:
    names = requires_dist(text)
    assert list(names) == sorted(set(names))


@given(st.binary(max_size=400), st.sampled_from(["application/vnd.pypi.simple.v1+json", "text/html"]))
def test_index_pages_never_raise(body: bytes, kind: str) -> None:
    assert isinstance(index_files(body, kind, "https://up.test/simple/x/"), dict)


def test_html_page_with_and_without_core_metadata() -> None:
    html = (
        b'<a href="../../f/a-1.0-py3-none-any.whl#sha256=00" data-core-metadata="sha256=11">a-1.0-py3-none-any.whl</a>'
        b'<a href="https://files.test/b-1.0.tar.gz">b-1.0.tar.gz</a>'
    )
    got = index_files(html, "text/html", "https://up.test/simple/a/")
    assert got["a-1.0-py3-none-any.whl"] == ("https://up.test/f/a-1.0-py3-none-any.whl", True)
    assert got["b-1.0.tar.gz"] == ("https://files.test/b-1.0.tar.gz", False)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticUpstream]:
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fetch-test-wheels"), "--deps", str(DEPS)], check=True
    )
    root = tmp_path_factory.mktemp("index")
    build_index(read_dists(DEPS), root)
    server = StaticUpstream(root).start()
    yield server
    server.stop()


def test_fetch_from_a_real_index(index: StaticUpstream) -> None:
    fetcher = MetadataFetcher({"up": UpstreamSite(index.simple_url)}, "up")
    try:
        got = fetcher.fetch("up", "requests", "requests-2.32.3-py3-none-any.whl")
        assert got == Fetched(
            "ok", ("certifi", "chardet", "charset-normalizer", "idna", "pysocks", "urllib3")
        )
        assert fetcher.fetch(
            None, "requests-toolbelt", "requests_toolbelt-1.0.0-py2.py3-none-any.whl"
        ) == Fetched("ok", ("requests",))
        assert fetcher.fetch("up", "six", "six-1.16.0-py2.py3-none-any.whl") == Fetched("ok", ())
        assert fetcher.fetch("up", "six", "six-9.9.9-py3-none-any.whl").status == "not-found"
        assert fetcher.fetch("up", "no-such-project", "x-1.0.whl").status == "error"
        assert any(r.path.endswith(".metadata") for r in index.requests())  # PEP 658, not the wheel
    finally:
        fetcher.close()
    assert MetadataFetcher({}, "").fetch("up", "six", "six-1.16.0.whl").status == "error"


def test_wheel_metadata_fallback_reads_the_real_wheel() -> None:
    data = (DEPS / "requests_toolbelt-1.0.0-py2.py3-none-any.whl").read_bytes()
    text = _wheel_metadata(data)
    assert text is not None
    assert requires_dist(text) == ("requests",)
    assert _wheel_metadata(b"not a zip") is None
