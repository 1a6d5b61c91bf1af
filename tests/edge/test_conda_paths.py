"""Property tests of the conda request parsers: never raise, and what they accept is safe to put
after an upstream's URL (no `..`, no slash in a segment, no scheme or host)."""

from __future__ import annotations

import bz2

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkgate.edge.conda.paths import CHANNELDATA, FILE, REPODATA, SHARD, SHARD_INDEX, package_file, parse_path
from pkgate.edge.conda.repodata import head_has_base_url

_SEGMENT = st.text(alphabet=st.sampled_from("abcXYZ019._-/%:@?#~ \\"), max_size=12)


def _safe(text: str) -> None:
    for part in text.split("/"):
        assert part not in ("", ".", "..")
        assert not set(part) & set("%:@?#\\ ")


@given(st.lists(_SEGMENT, max_size=8))
def test_parse_path_never_raises_and_accepts_only_safe_segments(segments: list[str]) -> None:
    got = parse_path("/conda/" + "/".join(segments))
    if got is not None:
        _safe(got.channel)
        if got.subdir:
            _safe(got.subdir)
        _safe(got.name)
        assert got.what in (CHANNELDATA, REPODATA, SHARD_INDEX, SHARD, FILE)


@given(st.text(max_size=300))
def test_package_file_never_raises(text: str) -> None:
    got = package_file(text)
    if got is not None:
        assert f"{got.name}-{got.version}-{got.build}.{got.format}" == text
        assert "-" not in got.version
        assert "-" not in got.build


@given(
    st.from_regex(r"[a-z0-9_][a-z0-9._-]{0,20}", fullmatch=True),
    st.from_regex(r"[0-9][0-9.]{0,8}", fullmatch=True),
    st.from_regex(r"[a-z0-9_]{1,10}", fullmatch=True),
    st.sampled_from(["conda", "tar.bz2"]),
)
def test_package_file_round_trip(name: str, version: str, build: str, fmt: str) -> None:
    got = package_file(f"{name}-{version}-{build}.{fmt}")
    assert got is not None
    assert (got.name, got.version, got.build, got.format) == (name, version, build, fmt)


@pytest.mark.parametrize(
    ("path", "what", "channel", "subdir"),
    [
        ("/conda/conda-forge/linux-64/repodata.json", REPODATA, "conda-forge", "linux-64"),
        (
            "/conda/conda-forge/label/dev/noarch/current_repodata.json.zst",
            REPODATA,
            "conda-forge/label/dev",
            "noarch",
        ),
        ("/conda/c/osx-arm64/repodata_shards.msgpack.zst", SHARD_INDEX, "c", "osx-arm64"),
        ("/conda/c/noarch/shards/" + "ab" * 32 + ".msgpack.zst", SHARD, "c", "noarch"),
        ("/conda/c/channeldata.json", CHANNELDATA, "c", ""),
        ("/conda/c/win-64/numpy-2.0.0-py312h1234_0.conda", FILE, "c", "win-64"),
    ],
)
def test_known_paths(path: str, what: str, channel: str, subdir: str) -> None:
    got = parse_path(path)
    assert got is not None
    assert (got.what, got.channel, got.subdir) == (what, channel, subdir)


@given(st.binary(max_size=2000), st.sampled_from(["zst", "bz2"]))
def test_head_check_never_raises(body: bytes, codec: str) -> None:
    assert head_has_base_url(body, codec) in (True, False)


def test_head_check_reads_info() -> None:
    plain = b'{"info":{"subdir":"noarch"},"packages":{}}'
    based = b'{"info":{"subdir":"noarch","base_url":"https://cdn/x/"},"packages":{}}'
    assert head_has_base_url(bz2.compress(plain), "bz2") is False
    assert head_has_base_url(bz2.compress(based), "bz2") is True
    assert head_has_base_url(bz2.compress(b'{"packages":{}}'), "bz2") is True  # cannot tell: rewrite
