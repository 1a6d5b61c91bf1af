"""Bearer-token challenges (RFC 6750 `WWW-Authenticate`) as registries use them, and their rewrite.

A registry that needs a token answers 401 with `Bearer realm="<token server>",service="...",
scope="..."`; the client asks the realm for a token and retries with it. The gateway fronts several
registries behind one host, and clients take the challenge of the `/v2/` ping as the one for the
whole host, so the challenges clients see name the gateway's own realm (`/v2/_token`), which asks
the token server of the registry the scope's repository routes to.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from pkgate.edge.recorder import Headers

__all__ = [
    "TOKEN_PATH",
    "Challenge",
    "gateway_realm",
    "parse_challenge",
    "render_challenge",
    "scope_repository",
]

TOKEN_PATH: Final = "/v2/_token"  # noqa: S105 - a path, not a secret
#: The token a client gets from the gateway for a repository whose registry needs none.
ANONYMOUS: Final = "pkgate-anonymous"
_PARAM: Final = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|\Z)')
_HOST: Final = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_SAFE: Final = re.compile(r'[^"\\\x00-\x1f\x7f]*')
_SCOPE: Final = re.compile(r"repository:([a-z0-9._/-]+):[a-z*,]+")


class Challenge(NamedTuple):
    """A registry's bearer challenge: where its tokens come from, and for which service."""

    realm: str
    service: str


def parse_challenge(value: str | None) -> Challenge | None:
    """The realm and service of a `Bearer` challenge with an http(s) realm; None otherwise."""
    if not value or len(value) > 4096:
        return None
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if m is None or m.end() == pos:
            return None
        quoted, bare = m.group(2), m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare or ""
        pos = m.end()
    realm = params.get("realm", "")
    if not realm.startswith(("http://", "https://")) or _SAFE.fullmatch(realm) is None:
        return None
    service = params.get("service", "")
    return Challenge(realm, service if _SAFE.fullmatch(service) else "")


def render_challenge(realm: str, service: str, scope: str | None = None) -> str:
    """A `Bearer` challenge; values that cannot be quoted safely are left out."""
    parts = [f'realm="{realm}"', f'service="{service}"']
    if scope and _SAFE.fullmatch(scope):
        parts.append(f'scope="{scope}"')
    return "Bearer " + ",".join(parts)


def gateway_realm(headers: Headers) -> str | None:
    """The gateway's token URL as the client reached it (its Host; `X-Forwarded-Proto` for TLS
    terminated in front); None when the Host header is missing or not a host."""
    host = headers.get("host") or ""
    if _HOST.fullmatch(host) is None:
        return None
    proto = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip().lower()
    return f"{'https' if proto == 'https' else 'http'}://{host}{TOKEN_PATH}"


def scope_repository(scope: str) -> str | None:
    """The repository of a `repository:<name>:<actions>` scope."""
    m = _SCOPE.fullmatch(scope)
    return m.group(1) if m else None
