"""The bundled network database: ASN and organisation of real addresses with no configuration,
the connection type of real ASNs, and a configured MaxMind database taking over.

The expected values are public facts about these networks (who announces 8.8.8.0/24, which
company holds AS13335), not output copied from the code.
"""

from __future__ import annotations

import pathlib

import pytest

from pkgate.enrich.geo import GeoLookup
from pkgate.enrich.networks import CONNECTION_TYPES, BuiltinNetworks, connection_of_asn
from tests.enrich.test_geo import GOOGLE, build_asn_db


@pytest.fixture(scope="module")
def geo() -> GeoLookup:
    return GeoLookup()


@pytest.mark.parametrize(
    ("ip", "asn", "org"),
    [
        ("8.8.8.8", 15169, "Google LLC"),
        ("2001:4860:4860::8888", 15169, "Google LLC"),
        ("::ffff:8.8.8.8", 15169, "Google LLC"),
        ("1.1.1.1", 13335, "Cloudflare, Inc."),
        ("140.82.112.3", 36459, "GitHub, Inc."),
    ],
)
def test_asn_and_org_out_of_the_box(geo: GeoLookup, ip: str, asn: int, org: str) -> None:
    assert geo.lookup(ip)[1:3] == (asn, org)


def test_private_space_and_nonsense_get_nothing(geo: GeoLookup) -> None:
    for ip in ("10.1.2.3", "127.0.0.1", "100.64.0.1", "fc00::1", "2001:db8::1", "not an address"):
        assert geo.lookup(ip)[1:3] == (None, None), ip


def test_switched_off_or_replaced_by_a_configured_database(tmp_path: pathlib.Path) -> None:
    assert GeoLookup(builtin_asn=False).lookup("8.8.8.8")[1:3] == (None, None)
    db = build_asn_db(tmp_path / "asn.mmdb", {"8.8.8.0/24": GOOGLE})
    mine = GeoLookup(db)
    assert mine.lookup("8.8.8.8")[1:3] == (15169, "GOOGLE")  # the configured database's spelling
    assert mine.lookup("1.1.1.1")[1:3] == (None, None)  # it alone answers: no silent mix of sources
    mine.close()


@pytest.mark.parametrize(
    ("asn", "kind"),
    [
        (13335, "hosting"),  # Cloudflare
        (24940, "hosting"),  # Hetzner
        (14061, "hosting"),  # DigitalOcean
        (7922, "isp"),  # Comcast
        (3320, "isp"),  # Deutsche Telekom
        (3, "education"),  # MIT
        (4_200_000_000, None),  # private-use ASN: unknown
        (0, None),
    ],
)
def test_connection_type_of_real_networks(asn: int, kind: str | None) -> None:
    assert connection_of_asn(asn) == kind
    assert kind is None or kind in CONNECTION_TYPES


def test_database_is_dated() -> None:
    built = BuiltinNetworks().built
    assert built is not None
    assert built >= "2026-01-01"
