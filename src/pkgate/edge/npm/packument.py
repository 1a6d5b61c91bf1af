"""npm names and paths, and the one change pkgate makes to a registry document: tarball URLs.

Fidelity: a packument (or version document) is the upstream's JSON object, decoded into plain
dicts and lists (key order, value types and every field kept) and encoded again with only
`versions.<v>.dist.tarball` (and a version document's `dist.tarball`) replaced by a signed
gateway link. `dist.integrity`, `dist.shasum`, signatures, dist-tags, times and unknown fields
pass through unchanged; only insignificant whitespace may differ.

A tarball link is `<base>/npm/<name>/-/<token>/<file>` where the token signs
`"<upstream> <version> <url>"` for (name, file): the tarball request then knows upstream, version
and the exact URL the upstream listed without any lookup. `<file>` stays last because clients
(and people reading lock files) take the tarball's name from it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple
from urllib.parse import quote, unquote, urlsplit

import msgspec

from pkgate.edge.links import LinkSigner
from pkgate.edge.npm.cache import Rendered
from pkgate.errors import LinkError

__all__ = [
    "PREFIX",
    "NpmPath",
    "Signed",
    "base_url",
    "parse_path",
    "rewrite_packument",
    "rewrite_version",
    "tarball_name",
    "upstream_path",
    "verify",
]

PREFIX: Final = "/npm/"
#: A name part (scope or package): npm's URL-safe characters; legacy names may be upper case.
_PART: Final = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,213}")
#: A version or dist-tag in a version-document path.
_VERSION: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_~-]{0,255}")
_HOST: Final = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")
_encoder: Final = msgspec.json.Encoder()


class NpmPath(NamedTuple):
    """`/npm/<name>/<tail...>` split: the package name and what follows it."""

    name: str
    tail: tuple[str, ...]


def parse_path(rest: str) -> NpmPath | None:
    """The name (scoped as `@scope/name`, whether the `/` came encoded or not) and the remaining
    raw segments; None when the name is not an npm name."""
    segs = rest.split("/")
    if len(segs) > 1 and segs[-1] == "":
        segs.pop()
    first = unquote(segs[0])
    if first.startswith("@"):
        if "/" in first:
            scope, _, pkg = first.partition("/")
            tail = segs[1:]
        elif len(segs) >= 2:
            scope, pkg, tail = first, unquote(segs[1]), segs[2:]
        else:
            return None
        if not _PART.fullmatch(scope[1:]) or not _PART.fullmatch(pkg) or pkg.startswith("."):
            return None
        name = f"{scope}/{pkg}"
    else:
        if not _PART.fullmatch(first):
            return None
        name, tail = first, segs[1:]
    if len(name) > 214:
        return None
    return NpmPath(name, tuple(tail))


def valid_version(text: str) -> bool:
    return _VERSION.fullmatch(text) is not None


def upstream_path(name: str) -> str:
    """How npm itself asks a registry for a package: `@scope%2Fname`."""
    return quote(name, safe="@")


def base_url(host: str | None, proto: str | None) -> str | None:
    """The gateway's own origin as the client named it (tarball links must be absolute); None for
    a Host header that is not a host (no header injection through links)."""
    if not host or not _HOST.fullmatch(host):
        return None
    scheme = "https" if proto is not None and proto.strip().lower() == "https" else "http"
    return f"{scheme}://{host}"


def tarball_name(name: str, version: str, url: str) -> str:
    """The tarball's file name: the last segment of its URL, or npm's `<name>-<version>.tgz`."""
    last = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if last and _PART.fullmatch(last):
        return last
    return f"{name.rsplit('/', 1)[-1]}-{version}.tgz"


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


Link = Callable[[str, str], str]  # (version, upstream tarball URL) -> gateway URL


def link_maker(signer: LinkSigner, base: str, name: str, upstream: str) -> Link:
    prefix = f"{base}{PREFIX}{name}/-/"

    def link(version: str, url: str) -> str:
        filename = tarball_name(name, version, url)
        token = signer.token(name, filename, f"{upstream} {version} {url}")
        return f"{prefix}{token}/{quote(filename, safe='')}"

    return link


def _with_link(version: str, manifest: Any, link: Link) -> Any:
    """A copy of one version's manifest with its tarball URL replaced (the cached one unchanged)."""
    if not isinstance(manifest, dict):
        return manifest
    dist = manifest.get("dist")
    if not isinstance(dist, dict) or not isinstance(dist.get("tarball"), str):
        return manifest
    return {**manifest, "dist": {**dist, "tarball": link(version, dist["tarball"])}}


def rewrite_packument(data: dict[str, Any], link: Link) -> Rendered:
    """The packument with every `versions.<v>.dist.tarball` signed; everything else as it came."""
    versions = data.get("versions")
    if isinstance(versions, dict):
        data = {**data, "versions": {v: _with_link(v, m, link) for v, m in versions.items()}}
    body = _encoder.encode(data)
    return Rendered(body, _etag(body))


def rewrite_version(manifest: Any, version: str, link: Link) -> Rendered:
    """One version document (`GET /<name>/<version>`) with its tarball signed."""
    body = _encoder.encode(_with_link(version, manifest, link))
    return Rendered(body, _etag(body))


def encode(data: Any) -> Rendered:
    body = _encoder.encode(data)
    return Rendered(body, _etag(body))


class Signed(NamedTuple):
    upstream: str
    version: str
    url: str
    filename: str


def verify(signer: LinkSigner, name: str, token: str, quoted: str) -> Signed | None:
    """The signed tarball link's parts, or None when it does not verify."""
    filename = unquote(quoted)
    try:
        payload = signer.verify(name, token, filename)
    except LinkError:
        return None
    upstream, _, rest = payload.partition(" ")
    version, _, url = rest.partition(" ")
    if not url:
        return None
    return Signed(upstream, version, url, filename)
