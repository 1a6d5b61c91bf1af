"""Cloud ranges: every published format parses, overlaps resolve to the narrowest range, bad files fail."""

from __future__ import annotations

import ipaddress
import json
import pathlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.enrich.clouds import CloudRanges, parse_ranges
from pkgate.errors import ConfigError


def _json(path: pathlib.Path, doc: Any) -> pathlib.Path:
    path.write_text(json.dumps(doc))
    return path


def aws(path: pathlib.Path) -> pathlib.Path:
    return _json(
        path,
        {
            "syncToken": "1700000000",
            "createDate": "2024-10-04-12-00-00",
            "prefixes": [
                {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON"},
                {"ip_prefix": "13.34.37.64/27", "region": "ap-southeast-4", "service": "EC2"},
            ],
            "ipv6_prefixes": [{"ipv6_prefix": "2600:1f00::/24", "region": "us-east-1", "service": "AMAZON"}],
        },
    )


def gcp(path: pathlib.Path, scoped: bool = True) -> pathlib.Path:
    extra = {"service": "Google Cloud", "scope": "us-central1"} if scoped else {}
    return _json(
        path,
        {
            "syncToken": "1700000000000",
            "creationTime": "2024-10-04T12:00:00.000000",
            "prefixes": [{"ipv4Prefix": "34.1.208.0/20", **extra}, {"ipv6Prefix": "2600:1900::/35", **extra}],
        },
    )


def azure(path: pathlib.Path) -> pathlib.Path:
    def tag(name: str, prefixes: list[str]) -> dict[str, Any]:
        return {"name": name, "id": name, "properties": {"platform": "Azure", "addressPrefixes": prefixes}}

    return _json(
        path,
        {
            "changeNumber": 300,
            "cloud": "Public",
            "values": [
                tag("AzureCloud", ["20.0.0.0/11", "2603:1000::/24"]),
                tag("AzureCloud.eastus", ["20.0.0.0/16"]),
                {"name": "broken", "properties": None},
            ],
        },
    )


def github(path: pathlib.Path) -> pathlib.Path:
    return _json(
        path,
        {
            "verifiable_password_authentication": False,
            "hooks": ["192.30.252.0/22"],
            "actions": ["20.0.1.0/24", "2a01:111:f403::/48"],
            "actions_macos": ["13.105.49.0/24"],
        },
    )


def oracle(path: pathlib.Path) -> pathlib.Path:
    return _json(
        path,
        {
            "last_updated_timestamp": "2024-10-04T12:00:00.000000",
            "regions": [{"region": "us-phoenix-1", "cidrs": [{"cidr": "129.146.0.0/21", "tags": ["OCI"]}]}],
        },
    )


def test_each_published_format(tmp_path: pathlib.Path) -> None:
    cf = tmp_path / "cloudflare.txt"
    cf.write_text("173.245.48.0/20\n2400:cb00::/32\n")
    do = tmp_path / "google.csv"
    do.write_text("# provider: digitalocean\n5.101.96.0/21,NL,NL-NH,Amsterdam,1098\n")
    ranges = CloudRanges(
        [aws(tmp_path / "aws.json"), gcp(tmp_path / "gcp.json"), azure(tmp_path / "az.json"),
         github(tmp_path / "gh.json"), oracle(tmp_path / "oci.json"), cf, do]
    )  # fmt: skip
    assert ranges.providers == [
        "aws",
        "gcp",
        "azure",
        "github-actions",
        "oracle",
        "cloudflare",
        "digitalocean",
    ]
    expect = {
        "3.5.141.9": "aws",
        "13.34.37.95": "aws",
        "13.34.37.96": None,
        "2600:1f00::1": "aws",
        "34.1.223.255": "gcp",
        "2600:1900:1::1": "gcp",
        "20.31.0.1": "azure",
        "20.0.2.1": "azure",
        "2603:10ff::1": "azure",
        "20.0.1.7": "github-actions",  # narrower than Azure's /11 and /16
        "2a01:111:f403::9": "github-actions",
        "13.105.49.1": "github-actions",
        "192.30.252.1": None,  # hooks are not runners
        "129.146.7.255": "oracle",
        "173.245.63.255": "cloudflare",
        "2400:cb00::1": "cloudflare",
        "5.101.100.100": "digitalocean",
        "::ffff:173.245.48.1": "cloudflare",
        "8.8.8.8": None,
        "::1": None,
        "not an ip": None,
    }
    assert {ip: ranges.lookup(ip) for ip in expect} == expect


def test_goog_json_is_google_not_gcp(tmp_path: pathlib.Path) -> None:
    assert parse_ranges(gcp(tmp_path / "goog.json", scoped=False))[0] == "google"


def test_equal_ranges_go_to_the_later_file(tmp_path: pathlib.Path) -> None:
    a = tmp_path / "a.txt"
    a.write_text("10.0.0.0/8\n")
    b = tmp_path / "b.txt"
    b.write_text("10.0.0.0/8\n")
    assert CloudRanges([a, b]).lookup("10.1.2.3") == "b"
    assert CloudRanges([b, a]).lookup("10.1.2.3") == "a"


def test_adjacent_same_provider_ranges_merge(tmp_path: pathlib.Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("10.0.0.0/25\n10.0.0.128/25\n10.0.1.0/24\n")
    ranges = CloudRanges([f])
    assert len(ranges) == 1
    assert ranges.lookup("10.0.1.255") == "x"
    assert ranges.lookup("10.0.2.0") is None


def test_no_files_means_no_cloud() -> None:
    ranges = CloudRanges()
    assert len(ranges) == 0
    assert ranges.lookup("20.0.1.7") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"hello": 1}', "no known format"),
        ("[1, 2]", "no known format"),
        ("# only a comment\n\n", "no IP ranges"),
        ("nonsense\n999.1.1.1\n", "no IP ranges"),
        ("# provider: Bad Name!\n10.0.0.0/8\n", "bad provider name"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
)
def test_bad_files_name_the_path(tmp_path: pathlib.Path, content: str | bytes, message: str) -> None:
    path = tmp_path / "ranges.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        CloudRanges([path])
    assert str(path) in str(info.value)


def test_missing_file_names_the_path(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="cannot read") as info:
        CloudRanges([tmp_path / "absent.json"])
    assert "absent.json" in str(info.value)


@settings(max_examples=150, deadline=None)
@given(content=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_arbitrary_files_parse_or_fail_cleanly(
    tmp_path_factory: pytest.TempPathFactory, content: str | bytes
) -> None:
    path = tmp_path_factory.mktemp("ranges") / "fuzz.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    outcome = _outcome(path)
    if isinstance(outcome, ConfigError):
        assert str(path) in str(outcome)
    else:
        assert len(outcome) >= 1


def _outcome(path: pathlib.Path) -> CloudRanges | ConfigError:
    try:
        return CloudRanges([path])
    except ConfigError as exc:
        return exc


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    doc=st.fixed_dictionaries(
        {},
        optional={
            k: json_values
            for k in (
                "syncToken",
                "createDate",
                "creationTime",
                "prefixes",
                "ipv6_prefixes",
                "values",
                "changeNumber",
                "cloud",
                "actions",
                "hooks",
                "regions",
                "last_updated_timestamp",
            )
        },
    )
)
def test_malformed_published_json_never_crashes(tmp_path_factory: pytest.TempPathFactory, doc: Any) -> None:
    path = _json(tmp_path_factory.mktemp("json") / "doc.json", doc)
    outcome = _outcome(path)
    assert isinstance(outcome, CloudRanges) or str(path) in str(outcome)


# Small address spaces so that generated ranges overlap, nest and touch often.
_v4 = st.builds(
    lambda host, prefix: ipaddress.ip_network(f"10.0.{host >> 8}.{host & 255}/{prefix}", strict=False),
    st.integers(0, 2**16 - 1),
    st.integers(16, 32),
)
_v6 = st.builds(
    lambda host, prefix: ipaddress.ip_network(f"2001:db8::{host:x}/{prefix}", strict=False),
    st.integers(0, 2**16 - 1),
    st.integers(112, 128),
)
networks = st.one_of(_v4, _v6)
_probes = st.one_of(
    st.integers(0, 2**16 - 1).map(lambda h: ipaddress.ip_address(f"10.0.{h >> 8}.{h & 255}")),
    st.integers(0, 2**16 - 1).map(lambda h: ipaddress.ip_address(f"2001:db8::{h:x}")),
    st.ip_addresses(),
)


@settings(max_examples=100, deadline=None)
@given(
    files=st.lists(st.lists(networks, min_size=1, max_size=6), min_size=1, max_size=4),
    probes=st.lists(_probes, max_size=20),
)
def test_lookup_matches_a_brute_force_oracle(
    tmp_path_factory: pytest.TempPathFactory,
    files: list[list[ipaddress.IPv4Network | ipaddress.IPv6Network]],
    probes: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> None:
    root = tmp_path_factory.mktemp("oracle")
    paths = []
    for i, nets in enumerate(files):
        path = root / f"p{i}.txt"
        path.write_text("\n".join(map(str, nets)))
        paths.append(path)
    ranges = CloudRanges(paths)
    # Probe inside every range, at its edges and just outside, plus random addresses.
    points = list(probes)
    for nets in files:
        for net in nets:
            points += [net.network_address, net.broadcast_address]
            if int(net.network_address) > 0:
                points.append(net.network_address - 1)
    for point in points:
        addr = point.ipv4_mapped or point if isinstance(point, ipaddress.IPv6Address) else point
        covering = [
            (net.num_addresses, -order, f"p{order}")
            for order, nets in enumerate(files)
            for net in nets
            if addr.version == net.version and addr in net
        ]
        expected = min(covering)[2] if covering else None
        assert ranges.lookup(str(point)) == expected, point
