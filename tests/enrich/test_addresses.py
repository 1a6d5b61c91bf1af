"""The integer address path agrees with `ipaddress` on parsing, canonical text and `is_global`."""

from __future__ import annotations

import ipaddress

from hypothesis import example, given, settings
from hypothesis import strategies as st

from pkgate.enrich import addresses

V4_MAX = 2**32 - 1
V6_MAX = 2**128 - 1


def _special_edges(version: int) -> list[int]:
    """Both ends, and their neighbours, of every network `ipaddress` treats specially (written out
    here, not taken from the code under test)."""
    nets = (
        ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
         "192.0.0.0/24", "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/31",
         "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
         "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32"]
        if version == 4
        else ["::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
              "2001:1::1/128", "2001:1::2/128", "2001:2::/48", "2001:3::/32", "2001:4:112::/48", "2001:10::/28",
              "2001:20::/28", "2001:30::/28", "2001:db8::/32", "2002::/16", "3fff::/20", "5f00::/16",
              "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"]
    )  # fmt: skip
    top = V4_MAX if version == 4 else V6_MAX
    edges: set[int] = set()
    for text in nets:
        net = ipaddress.ip_network(text)
        for point in (int(net.network_address), int(net.broadcast_address)):
            edges.update(p for p in (point - 1, point, point + 1) if 0 <= p <= top)
    return sorted(edges)


V4_EDGES = _special_edges(4)
V6_EDGES = _special_edges(6)
v4_values = st.one_of(st.integers(0, V4_MAX), st.sampled_from(V4_EDGES))
v6_values = st.one_of(
    st.integers(0, V6_MAX),
    st.integers(0x2000 << 112, (0x4000 << 112) - 1),  # global unicast
    st.integers(0, 2**48),  # ::/96 and friends
    st.sampled_from(V6_EDGES),
)


def _texts(value: int, version: int) -> st.SearchStrategy[str]:
    """Ways the same address is written."""
    if version == 4:
        addr4 = ipaddress.IPv4Address(value)
        return st.sampled_from(
            [
                str(addr4),
                f"::ffff:{addr4}",
                f"::FFFF:{addr4}",
                str(ipaddress.IPv6Address(value | 0xFFFF << 32)),
            ]
        )
    addr6 = ipaddress.IPv6Address(value)
    low = f"{addr6.exploded[:-9]}{ipaddress.IPv4Address(value & V4_MAX)}"  # dotted tail
    return st.sampled_from([str(addr6), addr6.exploded, str(addr6).upper(), low])


def _reference(text: str) -> tuple[int, bool] | None:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return int(addr), addr.version == 6


@settings(max_examples=800, deadline=None)
@given(st.one_of(v4_values.map(lambda v: (v, 4)), v6_values.map(lambda v: (v, 6))).flatmap(
    lambda vv: st.tuples(st.just(vv), _texts(*vv))
))  # fmt: skip
def test_parse_canonical_and_global_match_ipaddress(pair: tuple[tuple[int, int], str]) -> None:
    _, text = pair
    expected = _reference(text)
    assert expected is not None
    assert addresses.parse(text) == expected
    value, wide = expected
    addr = ipaddress.IPv6Address(value) if wide else ipaddress.IPv4Address(value)
    assert addresses.canonical(value, wide) == str(addr)
    assert addresses.is_global(value, wide) is addr.is_global


def _mangled() -> st.SearchStrategy[str]:
    """A real address's text with one character inserted, dropped or changed."""
    texts = st.one_of(v4_values.map(lambda v: (v, 4)), v6_values.map(lambda v: (v, 6))).flatmap(
        lambda vv: _texts(*vv)
    )
    alphabet = st.sampled_from(list("0123456789afAF:.%/ x\x00"))

    def mangle(text: str, at: int, char: str, how: int) -> str:
        at %= len(text) + 1
        if how == 0:
            return text[:at] + char + text[at:]
        if how == 1:
            return text[:at] + text[at + 1 :]
        return text[:at] + char + text[at + 1 :]

    return st.builds(mangle, texts, st.integers(0, 60), alphabet, st.integers(0, 2))


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(alphabet="0123456789abcdefABCDEFx:.%/ \t\x00", max_size=45), _mangled()))
@example("1.2.3.04")
@example("1.2.3.4.5")
@example("::1.2.3.4")
@example("::ffff:1.2.3.4")
@example("1:2:3:4:5:6:7::")
@example("1::2:3:4:5:6:7:8")
@example("fe80::1%eth0")
@example("00001::")
@example("1.2.3.4\x00")
@example("\ud800")
def test_text_parses_where_ipaddress_does_and_to_the_same_address(text: str) -> None:
    """Text inet_pton takes must be text ipaddress takes, as the same address (the other way
    round, the geo lookup asks ipaddress itself)."""
    parsed = addresses.parse(text)
    if parsed is not None:
        assert parsed == _reference(text)


def test_edges_of_every_special_network() -> None:
    for wide, edges in ((False, V4_EDGES), (True, V6_EDGES)):
        for value in edges:
            addr = ipaddress.IPv6Address(value) if wide else ipaddress.IPv4Address(value)
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                continue  # parse() folds these to IPv4
            assert addresses.is_global(value, wide) is addr.is_global, addr
            assert addresses.canonical(value, wide) == str(addr)
