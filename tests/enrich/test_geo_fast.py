"""The fast geo lookup answers exactly what the `ipaddress` + iptocc + `plevin.lookup` path answers.

The reference below is the lookup as it was written before the integer path (kept here, written
independently of the code under test): `ipaddress` parses, `is_global` decides, iptocc gets the
canonical text, plevin's public `lookup` gives the network, and the cloud is found by brute force
over the configured networks.
"""

from __future__ import annotations

import ipaddress

import iptocc
import plevin
import plevin_db_network
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgate.enrich.geo import GeoLookup
from pkgate.enrich.networks import BuiltinNetworks

Facts = tuple[str | None, int | None, str | None, str | None]
Net = ipaddress.IPv4Network | ipaddress.IPv6Network

PLEVIN = plevin.Plevin(plevin_db_network.PATH)
V4_MAX = 2**32 - 1
V6_MAX = 2**128 - 1


def _clouds() -> list[tuple[str, list[Net]]]:
    """Two providers over real database networks: a wide range and narrower ones inside it."""
    wide = [ipaddress.ip_network("8.0.0.0/8"), ipaddress.ip_network("2a03:2880::/29")]
    narrow = [ipaddress.ip_network(n) for n in ("8.8.8.0/24", "8.34.208.0/20", "2a03:2880:f000::/36")]
    return [("bigcloud", wide), ("smallcloud", narrow)]


CLOUDS = _clouds()


def reference(ip: object) -> Facts:
    try:
        addr = ipaddress.ip_address(ip.strip())  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        return None, None, None, None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    holding = [
        (net.prefixlen, order, name)
        for order, (name, nets) in enumerate(CLOUDS)
        for net in nets
        if addr in net
    ]
    cloud = max(holding)[2] if holding else None
    if not addr.is_global:
        return None, None, None, cloud
    network = PLEVIN.lookup(str(addr)).network
    asn = org = None
    if network is not None:
        asn = network.asn if type(network.asn) is int and 0 < network.asn <= V4_MAX else None
        op = network.operator
        name = (op.company or op.brand) if op is not None else None
        org = name[:200] if name else None
    return iptocc.country_code(str(addr)), asn, org, cloud


@pytest.fixture(scope="module")
def geo(tmp_path_factory: pytest.TempPathFactory) -> GeoLookup:
    root = tmp_path_factory.mktemp("clouds")
    paths = []
    for name, nets in CLOUDS:
        path = root / f"{name}.txt"
        path.write_text("".join(f"{net}\n" for net in nets))
        paths.append(path)
    return GeoLookup(cloud_ranges=paths)


def _text(value: int, wide: bool) -> str:
    return str(ipaddress.IPv6Address(value) if wide else ipaddress.IPv4Address(value))


def _edges(value: int, wide: bool) -> set[tuple[int, bool]]:
    """The address, the ends of the database network holding it (plevin's public span) and their
    neighbours."""
    top = V6_MAX if wide else V4_MAX
    points = {value}
    network = PLEVIN.lookup(_text(value, wide)).network
    if network is not None and network.start is not None and network.end is not None:
        points |= {int(ipaddress.ip_address(network.start)), int(ipaddress.ip_address(network.end))}
    return {(p + d, wide) for p in points for d in (-1, 0, 1) if 0 <= p + d <= top}


values = st.one_of(
    st.integers(0, V4_MAX).map(lambda v: (v, False)),
    st.integers(0x2000 << 112, (0x4000 << 112) - 1).map(lambda v: (v, True)),  # global unicast
    st.integers(0, V6_MAX).map(lambda v: (v, True)),
    st.integers(0, V4_MAX).map(lambda v: (v | 0xFFFF << 32, True)),  # IPv4-mapped
    st.sampled_from(
        [(0, False), (V4_MAX, False), (0, True), (1, True), (V6_MAX, True), (0xFFFF << 32, True)]
    ),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values, st.sampled_from(["plain", "exploded", "upper", "padded"]))
def test_any_address_and_its_range_ends_match_the_reference(
    geo: GeoLookup, pair: tuple[int, bool], form: str
) -> None:
    for value, wide in sorted(_edges(*pair)):
        addr = ipaddress.IPv6Address(value) if wide else ipaddress.IPv4Address(value)
        text = {
            "plain": str(addr),
            "exploded": addr.exploded,
            "upper": str(addr).upper(),
            "padded": f" {addr}\t",
        }[form]
        assert geo.lookup(text) == reference(text), text
    _not_text_answers_as_before(geo)


def _sample(version: int, step: int) -> list[tuple[int, bool]]:
    """Every `step`-th range of the database's spine: its start, the row before's end, neighbours."""
    spine = PLEVIN.file.sections[f"spine.v{version}"]
    points: set[tuple[int, bool]] = set()
    for row in range(0, spine.count, step):
        points |= _edges(spine[row], version == 6)
    return sorted(points)


@pytest.mark.parametrize(("version", "step"), [(4, 700), (6, 250)])
def test_every_boundary_of_a_sample_of_database_ranges(geo: GeoLookup, version: int, step: int) -> None:
    points = _sample(version, step)
    assert len(points) > 3000
    wrong = []
    branded = 0
    for value, wide in points:
        text = _text(value, wide)
        expected = reference(text)
        if geo.lookup(text) != expected:
            wrong.append((text, geo.lookup(text), expected))
        network = PLEVIN.lookup(text).network
        op = None if network is None else network.operator
        branded += op is not None and not op.company and bool(op.brand)
    assert wrong == []
    # The sample reaches networks whose organisation is plevin's derived brand (no company).
    assert branded > 0


def test_text_only_ipaddress_reads(geo: GeoLookup) -> None:
    """Scope ids and junk take the `ipaddress` path, with the same answers."""
    for text in ("2a03:2880:f12f:83:face:b00c:0:25de%eth0", "fe80::1%1", "::ffff:8.8.8.8%2", "8.8.8.8%1",
                 "8.8.8.08", "", "   ", "1.2.3", "junk", "2001:db8::g"):  # fmt: skip
        assert geo.lookup(text) == reference(text), text
    _not_text_answers_as_before(geo)


def test_builtin_asn_off_still_takes_the_integer_path() -> None:
    """`builtin_asn = false`: country and cloud only."""
    geo = GeoLookup(builtin_asn=False)
    assert geo.lookup("8.8.8.8") == (reference("8.8.8.8")[0], None, None, None)
    assert geo.lookup("2a03:2880:f12f:83:face:b00c:0:25de")[1:] == (None, None, None)


def test_plevin_lookup_answers_when_the_fast_reads_are_off() -> None:
    """A database whose layout the fast reads do not know is asked through `plevin.lookup`."""
    networks = BuiltinNetworks()
    assert networks.available
    networks._rows = None  # what an unknown layout leaves
    for text in ("8.8.8.8", "2a03:2880:f12f:83:face:b00c:0:25de", "31.44.0.1"):
        value, wide = int(ipaddress.ip_address(text)), ":" in text
        asn, org = reference(text)[1:3]
        assert networks.lookup_value(value, wide, text) == (asn, org), text


def _not_text_answers_as_before(geo: GeoLookup) -> None:
    """Not text at all: what `ipaddress` makes of it (4 or 16 packed bytes are an address)."""
    for other in (
        b"\x08\x08\x08\x08",
        b" \x08\x08\x08\x08",
        b"8.8.8.8",
        b"\x2a\x03" + bytes(14),
        None,
        134744072,
    ):
        assert geo.lookup(other) == reference(other), other  # type: ignore[arg-type]
    assert geo.lookup(b"\x08\x08\x08\x08")[0] == "US"  # type: ignore[arg-type]


def test_blocks_read_are_decoded_whole_and_keep_no_decoder() -> None:
    """A block's LZMA decoder holds a 1 MiB window: none may outlive its block's first read, and
    the answers stay plevin's own."""
    import lzma

    networks = BuiltinNetworks()
    reference = plevin.Plevin(plevin_db_network.PATH)
    addresses = [f"{a}.{b}.7.9" for a in (8, 31, 81, 104, 151, 185, 212) for b in (1, 77, 200)]
    for ip in addresses:
        value = int(ipaddress.ip_address(ip))
        got = networks.lookup_value(value, False, ip)
        network = reference.lookup(ip).network
        assert got.asn == (network.asn if network is not None else None), ip
    db = networks._handle
    assert db is not None
    streams = [
        part
        for section in db.file.sections.values()
        for block in section.cache.values()
        for part in (block if isinstance(block, tuple) else (block,))
        if hasattr(part, "decoder")
    ]
    assert streams, "no block was read"
    assert not [s for s in streams if isinstance(s.decoder, lzma.LZMADecompressor)]


def test_the_parts_read_are_held_packed_and_answer_as_plevin() -> None:
    """The IPv4 index's groups and the delta-coded columns' sums are held as machine integers (a
    Python int costs 36 bytes; a log's addresses reach thousands of groups; IPv6 index values
    are 128 bits and stay Python ints), and every answer stays plevin's own."""
    from array import array

    networks = BuiltinNetworks()
    reference = plevin.Plevin(plevin_db_network.PATH)
    v4 = [f"{a}.{b}.{c}.9" for a in (8, 31, 81, 104, 151, 185, 212) for b in (1, 77, 200) for c in (3, 140)]
    v6 = ["2a03:2880:f12f:83:face:b00c:0:25de", "2001:4860:4860::8888", "2a00:1450:4001:81c::200e"]
    for ip in v4 + v6:
        addr = ipaddress.ip_address(ip)
        got = networks.lookup_value(int(addr), addr.version == 6, ip)
        network = reference.lookup(ip).network
        op = None if network is None else network.operator
        org = (op.company or op.brand) if op is not None else None
        assert got == ((network.asn, org or None) if network is not None else (None, None)), ip
    db = networks._handle
    assert db is not None
    sections = db.file.sections
    assert sections["spine.v6"].groups  # reached, answered above
    groups = list(sections["spine.v4"].groups.values())
    assert groups
    assert all(isinstance(g, array) and g.typecode == "I" for g in groups)
    sums = [
        block.sums
        for section in sections.values()
        if type(section).__name__ == "Deltas"
        for block in section.cache.values()
        if getattr(block, "sums", None)
    ]
    assert sums, "no delta-coded column was read"
    assert all(isinstance(s, array) and s.typecode == "q" for s in sums)
