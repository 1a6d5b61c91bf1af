"""Names of the OCI distribution API: request paths, repository names, references, media types.

Grammar from the distribution spec: a repository is path components of lower-case alphanumerics
joined by `.`, `_`, `__` or dashes; a tag is `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`; a digest is
`<algorithm>:<encoded>` (sha256 and sha512 only, hex, as registries accept them). Anything else is
not a request this gateway forwards: a malformed name never reaches an upstream URL.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple
from urllib.parse import parse_qsl

__all__ = [
    "BLOBS",
    "INDEX_TYPES",
    "MANIFESTS",
    "MANIFEST_TYPES",
    "TAGS",
    "Target",
    "is_digest",
    "parse_path",
    "query_params",
]

PREFIX: Final = "/v2/"
MANIFESTS: Final = "manifests"
BLOBS: Final = "blobs"
TAGS: Final = "tags"
_COMPONENT: Final = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_REPOSITORY: Final = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DIGEST: Final = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
#: Longest repository name accepted (the spec advises clients keep name + host under 255).
MAX_NAME: Final = 255

#: Image indexes: a list of per-platform manifests (the client picks one, then fetches it by digest).
INDEX_TYPES: Final = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
#: Everything a client may ask for as a manifest; sent upstream when a client states no Accept.
MANIFEST_TYPES: Final = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)


class Target(NamedTuple):
    """What a `/v2/<name>/<endpoint>/<reference>` path asks for."""

    repository: str
    endpoint: str  # MANIFESTS, BLOBS or TAGS
    reference: str  # a tag or digest; "list" for TAGS


def query_params(query: str, limit: int = 64) -> list[tuple[str, str]]:
    """The first `limit` parameters of a query string (bounded work, never raises)."""
    if not query:
        return []
    return parse_qsl("&".join(query[:8192].split("&", limit)[:limit]))


def is_digest(reference: str) -> bool:
    return _DIGEST.fullmatch(reference) is not None


def parse_path(path: str) -> Target | None:
    """The target of a raw request path under `/v2/`, or None when it is not one (never raises)."""
    if not path.startswith(PREFIX) or len(path) > 1024:
        return None
    head, _, reference = path[len(PREFIX) :].rpartition("/")
    repository, _, endpoint = head.rpartition("/")
    if len(repository) > MAX_NAME or _REPOSITORY.fullmatch(repository) is None:
        return None
    if endpoint == TAGS:
        return Target(repository, TAGS, reference) if reference == "list" else None
    if endpoint == BLOBS:
        return Target(repository, BLOBS, reference) if is_digest(reference) else None
    if endpoint == MANIFESTS and (is_digest(reference) or _TAG.fullmatch(reference) is not None):
        return Target(repository, MANIFESTS, reference)
    return None
