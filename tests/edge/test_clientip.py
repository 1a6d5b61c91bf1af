"""Client address behind proxies: headers count only from trusted peers, walked right to left."""

from __future__ import annotations

import ipaddress
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.edge.clientip import MAX_HOPS, ClientIP, peer_host
from pkgate.errors import ConfigError

PROXIES = ["10.0.0.0/8", "fd00::/8", "192.0.2.10"]


@pytest.fixture
def cip() -> ClientIP:
    return ClientIP(PROXIES)


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("1.2.3.4:5678", "1.2.3.4"),
        ("1.2.3.4", "1.2.3.4"),
        ("[::1]:80", "::1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1", "2001:db8::1"),
        ("", ""),
    ],
)
def test_peer_host(peer: str, host: str) -> None:
    assert peer_host(peer) == host


def test_no_trusted_proxies_ignores_headers() -> None:
    cip = ClientIP([])
    assert cip.resolve("203.0.113.5:4444", "198.51.100.1", "for=198.51.100.2") == "203.0.113.5"
    assert cip.resolve("[2001:db8::5]:443", "198.51.100.1", None) == "2001:db8::5"


def test_untrusted_peer_ignores_headers(cip: ClientIP) -> None:
    assert cip.resolve("203.0.113.5", "198.51.100.1", "for=198.51.100.2") == "203.0.113.5"
    assert cip.resolve("garbage", "198.51.100.1", None) == "garbage"


@pytest.mark.parametrize(
    ("xff", "client"),
    [
        ("198.51.100.1", "198.51.100.1"),
        ("198.51.100.1, 10.0.0.2", "198.51.100.1"),
        ("6.6.6.6, 198.51.100.1, 10.0.0.2,10.9.9.9", "198.51.100.1"),  # the client's claim is ignored
        ("198.51.100.1:5555", "198.51.100.1"),
        ("[2001:db8::7]:443, fd00::1", "2001:db8::7"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("10.0.0.3, 10.0.0.2", "10.0.0.3"),  # all ours: the furthest
        ("192.0.2.10", "192.0.2.10"),
        ("198.51.100.1, unknown", "10.0.0.1"),  # an unusable hop: the peer
        ("198.51.100.1,,", "10.0.0.1"),
        ("", "10.0.0.1"),
    ],
)
def test_x_forwarded_for(cip: ClientIP, xff: str, client: str) -> None:
    assert cip.resolve("10.0.0.1:3456", xff, None) == client


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("for=198.51.100.1", "198.51.100.1"),
        ('For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
        ("for=6.6.6.6, for=198.51.100.1;proto=https, for=10.0.0.2", "198.51.100.1"),
        ('for="198.51.100.1", for="10.0.0.2:80"', "198.51.100.1"),
        ("proto=https;for=198.51.100.1;host=example.org", "198.51.100.1"),
        ("for=_hidden, for=10.0.0.2", "10.0.0.1"),
        ("for=unknown", "10.0.0.1"),
        ("proto=https", "10.0.0.1"),
        ('for="198.51.100.1', "198.51.100.1"),  # unterminated quote
        ('for="a,b;c", for=198.51.100.3', "198.51.100.3"),  # separators inside quotes
        ('for="\\[198.51.100.4\\]"', "198.51.100.4"),
    ],
)
def test_forwarded(cip: ClientIP, forwarded: str, client: str) -> None:
    assert cip.resolve("10.0.0.1", None, forwarded) == client


def test_header_choice() -> None:
    xff, fwd = "198.51.100.1", "for=198.51.100.2"
    assert ClientIP(PROXIES).resolve("10.0.0.1", xff, fwd) == "198.51.100.1"
    assert ClientIP(PROXIES).resolve("10.0.0.1", None, fwd) == "198.51.100.2"
    assert ClientIP(PROXIES, header="forwarded").resolve("10.0.0.1", xff, fwd) == "198.51.100.2"
    assert ClientIP(PROXIES, header="forwarded").resolve("10.0.0.1", xff, None) == "10.0.0.1"
    assert ClientIP(PROXIES, header="x-forwarded-for").resolve("10.0.0.1", None, fwd) == "10.0.0.1"


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "10.0.0.1/8", "not-a-network", "", "fd00::/129"])
def test_bad_trusted_proxies(bad: str) -> None:
    with pytest.raises(ConfigError, match="trusted_proxies") as info:
        ClientIP(["10.0.0.0/8", bad])
    assert repr(bad) in str(info.value)


def test_bad_header_option() -> None:
    with pytest.raises(ConfigError, match="forwarding header"):
        ClientIP(PROXIES, header="x-real-ip")  # type: ignore[arg-type]


def test_long_headers_are_bounded(cip: ClientIP) -> None:
    huge = "198.51.100.1, " + ", ".join(["10.0.0.5"] * 200_000)
    start = time.perf_counter()
    assert cip.resolve("10.0.0.1", huge, None) == "10.0.0.5"
    assert cip.resolve("10.0.0.1", None, ", ".join(["for=10.0.0.5"] * 200_000)) == "10.0.0.5"
    assert time.perf_counter() - start < 0.5
    # A hop cut by the length cap is dropped, never misread as a shorter address.
    cut = "211.2.3.4," + " " * 4079 + "10.0.0.5"
    assert len(cut) == 4097
    assert cip.resolve("10.0.0.1", cut, None) == "10.0.0.5"
    assert (
        cip.resolve("10.0.0.1", None, cut.replace("211", "for=211").replace(" 10", " for=10")) == "10.0.0.5"
    )
    # More than MAX_HOPS proxies: the furthest examined one.
    chain = ", ".join(["198.51.100.1"] + [f"10.0.0.{i}" for i in range(1, MAX_HOPS + 5)])
    assert cip.resolve("10.0.0.1", chain, None) == "10.0.0.5"


def _valid_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


header_text = st.one_of(
    st.none(),
    st.text(max_size=200),
    st.lists(
        st.one_of(
            st.ip_addresses().map(str),
            st.ip_addresses(v=6).map(lambda a: f"[{a}]:80"),
            st.sampled_from(["unknown", "_x", '"', "for=", ";", ""]),
        ),
        max_size=8,
    ).map(", ".join),
)


@settings(max_examples=300, deadline=None)
@given(peer=st.one_of(st.text(max_size=50), st.sampled_from(["10.0.0.1", "[fd00::1]:1", "192.0.2.10:9"])),
       xff=header_text, forwarded=header_text.map(lambda h: h and h.replace(", ", ", for=")))  # fmt: skip
def test_any_headers_resolve_to_an_address_or_the_peer(
    peer: str, xff: str | None, forwarded: str | None
) -> None:
    for cip in (ClientIP(PROXIES), ClientIP(PROXIES, header="forwarded")):
        result = cip.resolve(peer, xff, forwarded)
        assert result == peer_host(peer) or _valid_ip(result)
    assert ClientIP([]).resolve(peer, xff, forwarded) == peer_host(peer)


@settings(max_examples=200, deadline=None)
@given(
    claimed=st.lists(st.ip_addresses().map(str), max_size=4),
    client=st.ip_addresses(v=4).filter(lambda a: a not in ipaddress.ip_network("10.0.0.0/8")),
    hops=st.lists(
        st.integers(1, 2**24 - 2).map(lambda i: str(ipaddress.IPv4Address(0x0A000000 + i))), max_size=5
    ),
)
def test_client_claims_left_of_the_real_client_are_ignored(
    claimed: list[str], client: ipaddress.IPv4Address, hops: list[str]
) -> None:
    cip = ClientIP(["10.0.0.0/8"])
    chain = [*claimed, str(client), *hops]
    assert cip.resolve("10.0.0.1", ", ".join(chain), None) == str(client)
    forwarded = ", ".join(f'for="{h}"' for h in chain)
    assert cip.resolve("10.0.0.1", None, forwarded) == str(client)
