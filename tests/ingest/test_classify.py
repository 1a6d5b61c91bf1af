"""Paths classified as the gateway records them: kind, ecosystem, project, version, file."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.events.model import KINDS
from pkgate.ingest.classify import Target, classify


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/simple/", Target("index-root")),
        ("/simple", Target("index-root")),
        ("/simple/Jaraco.Functools/", Target("index-project", "python", "jaraco-functools")),
        ("/simple/six", Target("index-project", "python", "six")),
        ("/simple/not%20valid/", Target("index-project")),
        ("/simple/six/extra", Target("index-project")),
        (
            "/packages/f9/9b/335f/requests-2.32.3-py3-none-any.whl",
            Target("file", "python", "requests", "2.32.3", "requests-2.32.3-py3-none-any.whl"),
        ),
        (
            "/files/more_itertools-10.2.0-py3-none-any.whl.metadata",
            Target(
                "metadata", "python", "more-itertools", "10.2.0", "more_itertools-10.2.0-py3-none-any.whl"
            ),
        ),
        (
            "/files/six/tok3n/six-1.16.0.tar.gz",
            Target("file", "python", "six", "1.16.0", "six-1.16.0.tar.gz"),
        ),
        ("/left-pad/-/left-pad-1.3.0.tgz", Target("file", "npm", "left-pad", "1.3.0", "left-pad-1.3.0.tgz")),
        (
            "/@types/node/-/node-22.10.1.tgz",
            Target("file", "npm", "@types/node", "22.10.1", "node-22.10.1.tgz"),
        ),
        (
            "/@types%2fnode/-/node-22.10.1.tgz",
            Target("file", "npm", "@types/node", "22.10.1", "node-22.10.1.tgz"),
        ),
        ("/v2/", Target("index-root", "oci")),
        ("/v2/library/alpine/manifests/3.20", Target("index-project", "oci", "library/alpine", "3.20")),
        ("/v2/library/alpine/manifests/sha256:abcd", Target("index-project", "oci", "library/alpine")),
        ("/v2/library/alpine/tags/list", Target("index-project", "oci", "library/alpine")),
        (
            "/v2/library/alpine/blobs/sha256:ef01",
            Target("file", "oci", "library/alpine", None, "sha256:ef01"),
        ),
        ("/dl/MyTool/1.4.0/mytool.tar.gz", Target("file", "files", "mytool", "1.4.0", "mytool.tar.gz")),
        ("/favicon.ico", Target("other")),
        ("/", Target("other")),
        ("/healthz", Target("other")),
    ],
)
def test_paths(path: str, want: Target) -> None:
    assert classify(path) == want


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300).map(lambda s: "/" + s))
def test_any_path_gets_a_known_kind(path: str) -> None:
    got = classify(path)
    assert got.kind in KINDS
    assert got.ecosystem in ("python", "npm", "oci", "files")
    if got.kind in ("index-root", "other"):
        assert got.version is None
