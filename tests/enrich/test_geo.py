"""Geo facts: offline country, ASN/organisation from a MaxMind database we build, and the Enricher."""

from __future__ import annotations

import pathlib
from typing import Any

import mmdb_writer
import netaddr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.enrich.geo import MAX_ORG, Enricher, GeoLookup, SourceFacts
from pkgate.enrich.sources import DAY_US
from pkgate.errors import ConfigError

TS = 20_000 * DAY_US + 3_600_000_000


def build_asn_db(path: pathlib.Path, records: dict[str, Any], ip_version: int = 6) -> pathlib.Path:
    """A GeoLite2-ASN-layout database holding `records` (CIDR -> record)."""
    writer = mmdb_writer.MMDBWriter(
        ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type="GeoLite2-ASN"
    )
    for cidr, record in records.items():
        writer.insert_network(netaddr.IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


GOOGLE = {"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"}


@pytest.fixture(scope="module")
def asn_db(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    return build_asn_db(
        tmp_path_factory.mktemp("mmdb") / "asn.mmdb",
        {
            "8.8.8.0/24": GOOGLE,
            "2001:4860::/32": GOOGLE,
            "1.1.1.0/24": {"autonomous_system_number": 13335, "autonomous_system_organization": "X" * 500},
            "9.9.9.0/24": {"autonomous_system_number": "13335", "autonomous_system_organization": 7},
            "10.0.0.0/8": GOOGLE,  # a database claiming private space is ignored for private addresses
            "4.4.4.0/24": {"something": "else"},
        },
    )


def test_country_offline_and_none_for_private_space() -> None:
    geo = GeoLookup(builtin_asn=False)
    assert geo.lookup("8.8.8.8") == ("US", None, None, None)
    assert geo.lookup("::ffff:8.8.8.8")[0] == "US"
    assert geo.lookup("2001:4860:4860::8888")[0] == "US"
    for ip in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "100.64.0.1", "169.254.1.1", "::1", "fe80::1",
               "fc00::1", "192.0.2.1", "2001:db8::1", "0.0.0.0", "255.255.255.255"):  # fmt: skip
        assert geo.lookup(ip) == (None, None, None, None), ip
    assert geo.lookup("not an address") == (None, None, None, None)


def test_asn_and_org_from_database(asn_db: pathlib.Path) -> None:
    geo = GeoLookup(asn_db)
    assert geo.lookup("8.8.8.8") == ("US", 15169, "GOOGLE", None)
    assert geo.lookup("::ffff:8.8.8.8")[1:3] == (15169, "GOOGLE")
    assert geo.lookup("2001:4860:4860::8888")[1:3] == (15169, "GOOGLE")
    asn, org = geo.lookup("1.1.1.1")[1:3]
    assert asn == 13335
    assert org == "X" * MAX_ORG
    assert geo.lookup("9.9.9.9")[1:3] == (None, None)  # wrong types are not trusted
    assert geo.lookup("4.4.4.4")[1:3] == (None, None)
    assert geo.lookup("10.0.0.1")[1:3] == (None, None)
    assert geo.lookup("81.2.69.160")[1:3] == (None, None)
    geo.close()
    geo.close()


def test_ipv6_address_in_ipv4_only_database(tmp_path: pathlib.Path) -> None:
    db = build_asn_db(tmp_path / "v4.mmdb", {"8.8.8.0/24": GOOGLE}, ip_version=4)
    geo = GeoLookup(db)
    assert geo.lookup("8.8.8.8")[1] == 15169
    assert geo.lookup("2001:4860:4860::8888") == ("US", None, None, None)


def test_missing_database_is_a_config_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as info:
        GeoLookup(tmp_path / "GeoLite2-ASN.mmdb")
    assert "GeoLite2-ASN.mmdb" in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a database at all" * 100])
def test_corrupt_database_is_a_config_error(tmp_path: pathlib.Path, content: bytes) -> None:
    path = tmp_path / "broken.mmdb"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not a readable MaxMind database") as info:
        GeoLookup(path)
    assert str(path) in str(info.value)


def test_directory_as_database_is_a_config_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError) as info:
        GeoLookup(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_cloud_ranges_apply(tmp_path: pathlib.Path) -> None:
    ranges = tmp_path / "cloudflare.txt"
    ranges.write_text("1.1.1.0/24\n")
    assert GeoLookup(cloud_ranges=[ranges], builtin_asn=False).lookup("1.1.1.1") == (
        "AU",
        None,
        None,
        "cloudflare",
    )


def test_enricher_facts(tmp_path: pathlib.Path, asn_db: pathlib.Path) -> None:
    ranges = tmp_path / "gcp.txt"
    ranges.write_text("8.8.8.0/24\n")
    enricher = Enricher(tmp_path / "data", asn_db, [ranges])
    facts = enricher.facts("8.8.8.8", TS)
    assert isinstance(facts, SourceFacts)
    assert (facts.country, facts.asn, facts.org, facts.cloud) == ("US", 15169, "GOOGLE", "gcp")
    assert enricher.facts("8.8.8.8", TS + 1) is facts  # cached within the day
    assert enricher.facts("::ffff:8.8.8.8", TS) == facts
    other = enricher.facts("8.8.8.9", TS)
    assert other.source_id != facts.source_id
    assert other.network_id == facts.network_id
    tomorrow = enricher.facts("8.8.8.8", TS + DAY_US)
    assert tomorrow.source_id != facts.source_id
    assert tomorrow.country == "US"
    # Another worker on the same data dir computes the same ids.
    assert Enricher(tmp_path / "data").facts("8.8.8.8", TS + DAY_US).source_id == tomorrow.source_id
    assert (tmp_path / "data" / "keys").is_dir()
    enricher.close()


def test_enricher_cache_is_bounded(tmp_path: pathlib.Path) -> None:
    enricher = Enricher(tmp_path, cache_size=3)
    first = enricher.facts("192.0.2.1", TS)
    for i in range(2, 6):
        enricher.facts(f"192.0.2.{i}", TS)
    assert len(enricher._cache) == 3
    again = enricher.facts("192.0.2.1", TS)
    assert again == first
    assert again is not first


def test_enricher_configuration_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match="asn_db"):
        Enricher(tmp_path, asn_db=tmp_path / "missing.mmdb")
    with pytest.raises(ConfigError, match="cloud_ranges"):
        Enricher(tmp_path, cloud_ranges=[tmp_path / "missing.json"])
    with pytest.raises(ConfigError, match="window_days"):
        Enricher(tmp_path, window_days=-3)


def test_marks_are_the_hashers_cached_per_address_and_day(tmp_path: pathlib.Path) -> None:
    enricher = Enricher(tmp_path, cache_size=2)
    marks = enricher.marks("203.0.113.9", TS)
    assert marks == enricher.hasher.marks("203.0.113.9", TS)  # what the keys give, worked out anew
    assert enricher.marks("203.0.113.9", TS + 1) is marks  # the same day: cached
    assert enricher.marks("203.0.113.10", TS) == enricher.hasher.marks("203.0.113.10", TS)
    enricher.marks("203.0.113.11", TS)
    assert len(enricher._marks) <= 2  # bounded
    tomorrow = enricher.marks("203.0.113.9", TS + DAY_US)
    assert tomorrow == enricher.hasher.marks("203.0.113.9", TS + DAY_US)
    assert list(enricher._marks) == [(TS // DAY_US + 1, "203.0.113.9")]  # a new day forgets the old


@settings(max_examples=200, deadline=None)
@given(ip=st.one_of(st.text(max_size=80), st.ip_addresses().map(str)), ts=st.integers(-(10**20), 10**20))
def test_enricher_never_raises(tmp_path_factory: pytest.TempPathFactory, ip: str, ts: int) -> None:
    enricher = Enricher(tmp_path_factory.getbasetemp() / "prop-data")
    facts = enricher.facts(ip, ts)
    assert len(facts.source_id) == 20
    assert len(facts.network_id) == 20
    assert facts.country is None or len(facts.country) == 2
