"""The client's address behind reverse proxies, trusting forwarding headers only from our own proxies.

`X-Forwarded-For` and `Forwarded` (RFC 7239) are client-writable, so they are read only when the
direct peer is a configured trusted proxy, and then right to left: each trusted proxy appends the
address it saw, so the first untrusted address from the right is the real client, and anything to its
left is whatever the client claimed. Malformed input never raises; it falls back to the peer.

Which header: with ``header="auto"`` X-Forwarded-For is used when present, else Forwarded. A proxy
that sets only one of them passes the other through from the client unchanged, so pin ``header`` to
the one your proxy writes when it writes Forwarded only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final, Literal

from pkgate.errors import ConfigError

__all__ = ["ClientIP", "peer_host"]

#: Header bytes examined (from the right): bounded work whatever a client sends.
MAX_HEADER: Final = 4096
#: Hops examined from the right.
MAX_HOPS: Final = 16

Addr = ipaddress.IPv4Address | ipaddress.IPv6Address
Net = ipaddress.IPv4Network | ipaddress.IPv6Network
Header = Literal["auto", "x-forwarded-for", "forwarded"]

# Forwarded tokens: a quoted string (possibly unterminated), a run of plain text, or a separator.
_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"?|[^",;]+|[,;]')
_UNESCAPE: Final = re.compile(r"\\(.)")


def peer_host(peer: str) -> str:
    """`peer` without port and brackets: ``[::1]:80`` -> ``::1``, ``1.2.3.4:5678`` -> ``1.2.3.4``."""
    if peer.startswith("["):
        end = peer.find("]")
        return peer[1:end] if end > 0 else peer[1:]
    if peer.count(":") == 1:
        return peer.partition(":")[0]
    return peer


def _parse(text: str) -> Addr | None:
    text = text.strip().strip('"').strip()
    try:
        addr = ipaddress.ip_address(peer_host(text))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.scope_id is not None:
            return ipaddress.IPv6Address(int(addr))
    return addr


def _tail(value: str) -> list[str]:
    """The last MAX_HOPS comma-separated items of an X-Forwarded-For value, left to right.

    An item cut by the length cap is dropped rather than misread (``11.2.3.4`` must not become
    ``1.2.3.4``).
    """
    cut = len(value) > MAX_HEADER
    parts = value[-MAX_HEADER:].rsplit(",", MAX_HOPS)
    if cut or len(parts) > MAX_HOPS:
        parts = parts[1:]
    return parts


def _forwarded_fors(value: str) -> list[str | None]:
    """The ``for=`` value of each element of a Forwarded header (None where an element has none)."""
    cut = len(value) > MAX_HEADER
    fors: list[str | None] = []
    pair: list[str] = []
    current: str | None = None
    for m in _TOKEN.finditer(value[-MAX_HEADER:]):
        tok = m.group()
        if tok in (",", ";"):
            current = _pair_for(pair, current)
            pair = []
            if tok == ",":
                fors.append(current)
                current = None
        else:
            pair.append(tok)
    fors.append(_pair_for(pair, current))
    if cut:
        fors = fors[1:]
    return fors[-MAX_HOPS:]


def _pair_for(tokens: list[str], current: str | None) -> str | None:
    name, eq, val = "".join(tokens).partition("=")
    if not eq or name.strip().lower() != "for":
        return current
    val = val.strip()
    if val.startswith('"'):
        val = _UNESCAPE.sub(r"\1", val[1:-1] if len(val) > 1 and val.endswith('"') else val[1:])
    return val


class ClientIP:
    """Resolves the client address of a request from its peer and forwarding headers."""

    def __init__(self, trusted_proxies: Sequence[str], *, header: Header = "auto") -> None:
        nets: list[Net] = []
        for cidr in trusted_proxies:
            try:
                nets.append(ipaddress.ip_network(str(cidr).strip(), strict=True))
            except ValueError as exc:
                raise ConfigError(f"privacy.trusted_proxies: {cidr!r} is not a network: {exc}") from exc
        if header not in ("auto", "x-forwarded-for", "forwarded"):
            raise ConfigError(f"forwarding header must be auto, x-forwarded-for or forwarded, not {header!r}")
        self._v4 = tuple(n for n in nets if n.version == 4)
        self._v6 = tuple(n for n in nets if n.version == 6)
        #: Are forwarding headers ever read? Without a trusted proxy the peer is the client.
        self.forwarding = bool(nets)
        self._header = header

    def trusted(self, addr: Addr) -> bool:
        """Is `addr` one of our proxies?"""
        nets: tuple[Net, ...] = self._v4 if addr.version == 4 else self._v6
        return any(addr in net for net in nets)

    def resolve(self, peer: str, xff: str | None, forwarded: str | None) -> str:
        """The client address. `peer` is the connection's address (port and brackets are stripped);
        repeated header lines must be joined with ", " in order."""
        host = peer_host(peer)
        if not self.forwarding:
            return host
        peer_addr = _parse(host)
        if peer_addr is None or not self.trusted(peer_addr):
            return host
        if self._header == "forwarded" or (self._header == "auto" and not xff):
            if not forwarded:
                return host
            hops: Sequence[str | None] = _forwarded_fors(forwarded)
        else:
            if not xff:
                return host
            hops = _tail(xff)
        return self._walk(hops, host)

    def _walk(self, hops: Sequence[str | None], fallback: str) -> str:
        furthest: Addr | None = None
        for hop in reversed(hops):
            addr = _parse(hop) if hop is not None else None
            if addr is None:  # "unknown", an obfuscated name, or garbage: nothing to trust
                return fallback
            if not self.trusted(addr):
                return str(addr)
            furthest = addr
        # Every hop examined is one of ours: the furthest is the best we know.
        return str(furthest) if furthest is not None else fallback
