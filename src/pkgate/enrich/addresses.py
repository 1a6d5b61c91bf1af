"""An address as an integer, fast: the geo lookup's first step, without `ipaddress` objects.

`ipaddress.ip_address(...)` plus `.is_global` and `str()` cost 2-6 µs per address; here the text
goes through `socket.inet_pton` once (0.1-0.3 µs), and "is it global" is one `bisect` over a table
built from the standard library's own special-purpose networks, so the answers are `ipaddress`'s,
whatever the Python version (tests/enrich/test_addresses.py checks both against `ipaddress`).
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Final

__all__ = ["Parsed", "canonical", "is_global", "parse"]

#: (value, wide): the address as an integer and whether it is IPv6.
Parsed = tuple[int, bool]

_V4_SPACE: Final = 1 << 32
_V6_SPACE: Final = 1 << 128
_MAPPED: Final = 0xFFFF


def parse(text: str) -> Parsed | None:
    """(value, wide) of an address in plain form, IPv4-mapped IPv6 as its IPv4 address.

    None when `inet_pton` refuses the text: then only `ipaddress` can tell (a scope id such as
    ``fe80::1%eth0``, or no address at all). `inet_pton` accepts no text that `ipaddress`
    refuses (strict dotted quads without leading zeros, at most 4 hex digits a group, one ``::``).
    """
    try:
        if ":" in text:
            value = int.from_bytes(inet_pton(AF_INET6, text), "big")
            if value >> 32 == _MAPPED:
                return value & 0xFFFFFFFF, False
            return value, True
        return int.from_bytes(inet_pton(AF_INET, text), "big"), False
    except (OSError, ValueError):  # ValueError: NUL or a surrogate in the text
        return None


def canonical(value: int, wide: bool) -> str:
    """`str(ipaddress.ip_address(value))` for IPv4 and IPv6 (IPv6 values < 2**32 read as IPv6).

    glibc's `inet_ntop` writes the same compressed lowercase form as `ipaddress` (RFC 5952: the
    first longest run of two or more zero groups becomes ``::``) except for ``::/96``, which it
    writes with a dotted IPv4 tail; those few go through `ipaddress`.
    """
    if not wide:
        return inet_ntop(AF_INET, value.to_bytes(4, "big"))
    if value >> 32 == 0:
        return str(ipaddress.IPv6Address(value))
    return inet_ntop(AF_INET6, value.to_bytes(16, "big"))


def _networks(holder: type) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every network the standard library's address class checks its properties against."""
    found: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for value in vars(holder).values():
        items = value if isinstance(value, list | tuple | frozenset | set) else [value]
        for item in items:
            if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
                found.append(item)
            elif isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
                found.append(ipaddress.ip_network(item))
    return found


def _table(wide: bool) -> tuple[list[int], list[bool]]:
    """(starts, global?) segments of the address space, cut at every special network's ends.

    `is_global` is membership in the networks `ipaddress` keeps on its constants class, so it is
    constant between their ends: asking `ipaddress` once per segment reproduces it exactly.
    """
    make = ipaddress.IPv6Address if wide else ipaddress.IPv4Address
    holder = getattr(make(0), "_constants", None)
    nets = _networks(holder) if isinstance(holder, type) else []
    if not nets:
        raise LookupError("ipaddress keeps no special networks where expected")
    space = _V6_SPACE if wide else _V4_SPACE
    points = sorted(
        {0} | {int(n.network_address) for n in nets} | {int(n.broadcast_address) + 1 for n in nets}
    )
    starts: list[int] = []
    answers: list[bool] = []
    for point in points:
        if point >= space:
            continue
        answer = make(point).is_global
        if not answers or answers[-1] != answer:
            starts.append(point)
            answers.append(answer)
    return starts, answers


@functools.cache
def _tables() -> tuple[tuple[list[int], list[bool]], tuple[list[int], list[bool]]] | None:
    try:
        return _table(False), _table(True)
    except (LookupError, AttributeError, TypeError, ValueError):  # another Python's ipaddress
        return None


def is_global(value: int, wide: bool) -> bool:
    """`ipaddress.ip_address(value).is_global` (`wide`: read as IPv6), for a parsed address.

    An IPv4-mapped value must come as its IPv4 address (as `parse` gives it): `ipaddress` answers
    those from the IPv4 address, which this table does not hold.
    """
    tables = _tables()
    if tables is None:
        return (ipaddress.IPv6Address(value) if wide else ipaddress.IPv4Address(value)).is_global
    starts, answers = tables[wide]
    return answers[bisect.bisect_right(starts, value) - 1]
