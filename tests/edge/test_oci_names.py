"""Property tests of the OCI parsers: request paths, bearer challenges, scopes, Accept lines."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from pkgate.edge.oci.auth import Challenge, gateway_realm, parse_challenge, render_challenge, scope_repository
from pkgate.edge.oci.manifests import PlatformMemo, accepted
from pkgate.edge.oci.names import BLOBS, MANIFESTS, TAGS, Target, parse_path, query_params

component = st.from_regex(r"[a-z0-9]{1,5}(?:[._-][a-z0-9]{1,5}){0,2}", fullmatch=True)
repository = st.lists(component, min_size=1, max_size=4).map("/".join)
digest = st.from_regex(r"sha256:[a-f0-9]{64}", fullmatch=True)
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,20}", fullmatch=True)


@given(st.text(max_size=300))
def test_parse_path_never_raises(path: str) -> None:
    got = parse_path("/v2/" + path)
    if got is not None:
        assert got.endpoint in (MANIFESTS, BLOBS, TAGS)
        assert ".." not in got.repository.split("/")
        assert "%" not in got.repository


@given(repository, st.one_of(tag, digest))
def test_manifest_paths_parse_back(repo: str, ref: str) -> None:
    assert parse_path(f"/v2/{repo}/manifests/{ref}") == Target(repo, MANIFESTS, ref)


@given(repository, digest)
def test_blob_paths_parse_back(repo: str, ref: str) -> None:
    assert parse_path(f"/v2/{repo}/blobs/{ref}") == Target(repo, BLOBS, ref)
    assert parse_path(f"/v2/{repo}/blobs/{ref[:-1]}") is None  # 63 hex digits: not a digest
    assert parse_path(f"/v2/{repo}/tags/list") == Target(repo, TAGS, "list")


def test_bad_names() -> None:
    for path in (
        "/v2/Upper/manifests/v1",
        "/v2/a//b/manifests/v1",
        "/v2/a/../b/manifests/v1",
        "/v2/a%2fb/manifests/v1",
    ):
        assert parse_path(path) is None, path
    assert parse_path("/v2/a/manifests/-dash") is None


@given(st.text(max_size=200))
def test_parse_challenge_never_raises(value: str) -> None:
    got = parse_challenge("Bearer " + value)
    if got is not None:
        assert got.realm.startswith(("http://", "https://"))
        assert '"' not in got.realm
        assert "\n" not in got.service


realm = st.from_regex(r"https?://[a-z0-9.]{1,20}(:[0-9]{2,5})?/[a-z/]{0,20}", fullmatch=True)
service = st.from_regex(r"[A-Za-z0-9. :_-]{0,30}", fullmatch=True)


@given(realm, service)
def test_challenge_round_trip(r: str, s: str) -> None:
    assert parse_challenge(render_challenge(r, s, "repository:a/b:pull")) == Challenge(r, s)


def test_docker_hub_challenge() -> None:
    value = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'
    assert parse_challenge(value) == Challenge("https://auth.docker.io/token", "registry.docker.io")
    assert parse_challenge('Basic realm="x"') is None
    assert parse_challenge('Bearer realm="file:///etc/passwd"') is None
    assert (
        render_challenge("http://gw/v2/_token", "pkgate", 'bad"scope')
        == 'Bearer realm="http://gw/v2/_token",service="pkgate"'
    )


def test_scope_and_realm() -> None:
    assert scope_repository("repository:acme/app:pull,push") == "acme/app"
    assert scope_repository("registry:catalog:*") is None
    assert gateway_realm({"host": "gw.example:8443"}) == "http://gw.example:8443/v2/_token"
    assert (
        gateway_realm({"host": "gw.example", "x-forwarded-proto": "https"}) == "https://gw.example/v2/_token"
    )
    assert gateway_realm({"host": "evil\r\nx: y"}) is None
    assert gateway_realm({}) is None


class Lines:
    """Headers as granian gives them: several lines of one name."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def get(self, key: str, default: str | None = None) -> str | None:
        return next((v for k, v in self._items if k == key), default)


def test_every_accept_line_counts() -> None:
    assert accepted(Lines([("accept", "a/b"), ("user-agent", "x"), ("accept", "c/d")])) == "a/b, c/d"
    assert "application/vnd.oci.image.index.v1+json" in accepted(Lines([]))


@given(st.binary(max_size=300))
def test_platform_memo_takes_any_body(body: bytes) -> None:
    memo = PlatformMemo(max_entries=4)
    memo.note_index("a/b", "v1", body)
    assert memo.get("a/b", "sha256:" + "0" * 64) == (None, None)


def test_platform_memo_is_bounded() -> None:
    memo = PlatformMemo(max_entries=2)
    digests = ["sha256:" + c * 64 for c in "abc"]
    entries = [
        {"digest": d, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}} for d in digests
    ]
    memo.note_index("a/b", "v1", json.dumps({"manifests": entries}).encode())
    assert memo.get("a/b", digests[2]) == ("linux/arm64/v8", "v1")
    assert memo.get("a/b", digests[0]) == (None, None)  # emptied when full


@given(st.text(max_size=400))
def test_query_params_never_raise(query: str) -> None:
    assert len(query_params(query, 8)) <= 8


def test_query_params_keep_the_first() -> None:
    assert query_params("&".join(f"k{i}=v" for i in range(100)), 3) == [("k0", "v"), ("k1", "v"), ("k2", "v")]
