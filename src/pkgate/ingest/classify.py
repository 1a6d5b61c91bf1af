"""A logged request path -> the gateway's request kind, ecosystem, project, version and file.

The same kinds the gateway records (`pkgate.events.model.KINDS`), named the same way:
- PyPI-style: `/simple/` (index-root), `/simple/<project>/` (index-project, PEP 503-normalised),
  any path whose last segment is a distribution file (`/packages/../six-1.16.0-py2.py3-none-any.whl`,
  `/files/...`): file, or metadata for `<file>.metadata` (PEP 658);
- npm tarballs `/<name>/-/<name>-<version>.tgz`, scoped `/@scope/name/-/name-<version>.tgz`: file;
- OCI (`/v2/`): `/v2/` index-root, manifests and tag lists index-project, blobs file;
- plain files `/dl/<name>/<version>/<file>` (the gateway's `[[files]]` layout): file;
- everything else: other (no project), as the gateway records paths it does not serve.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

import msgspec

from pkgate.edge.names import is_valid_project_name, normalize, parse_filename
from pkgate.events.model import MAX_PATH

__all__ = ["Target", "classify"]

_METADATA: Final = ".metadata"
_OCI: Final = re.compile(
    r"^/v2/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)/(?P<what>manifests|blobs|tags)/(?P<ref>[^/]+)$"
)
_NPM_VERSION: Final = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*$")
_CACHE_MAX: Final = 65536


class Target(msgspec.Struct, frozen=True):
    """What a request asked for, in the gateway's terms."""

    kind: str
    ecosystem: str = "python"
    project: str | None = None
    version: str | None = None
    filename: str | None = None


_OTHER: Final = Target("other")
_cache: dict[str, Target] = {}


def classify(path: str) -> Target:
    """The target of a request path (no query). Never raises; results are cached (bounded): a log
    repeats the same index pages and file URLs over and over."""
    hit = _cache.get(path)
    if hit is not None:
        return hit
    target = _classify(path[: MAX_PATH * 4])
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[path] = target
    return target


def _classify(path: str) -> Target:
    if path == "/simple" or path.startswith("/simple/"):
        return _simple(path)
    if path.startswith("/v2/") or path == "/v2":
        return _oci(path)
    segments = path.split("/")
    last = unquote(segments[-1])
    if len(segments) >= 4 and segments[-2] == "-" and last.endswith(".tgz"):
        npm = _npm(segments, last)
        if npm is not None:
            return npm
    if len(segments) == 5 and segments[1] == "dl" and all(segments[2:]):
        name, version = unquote(segments[2]), unquote(segments[3])
        if is_valid_project_name(name):
            return Target("file", "files", normalize(name), version[:128], last[:255])
    return _dist(last) if "." in last else _OTHER


_dist_cache: dict[str, Target] = {}


def _dist(last: str) -> Target:
    """A distribution file (or its PEP 658 metadata) named by the last path segment; cached, as
    `/packages/<hash>/...` paths are all different while the files are few."""
    hit = _dist_cache.get(last)
    if hit is not None:
        return hit
    is_meta = last.endswith(_METADATA)
    dist = last[: -len(_METADATA)] if is_meta else last
    parsed = parse_filename(dist)
    target = _OTHER
    if parsed is not None:
        target = Target("metadata" if is_meta else "file", "python", parsed[0], parsed[1], dist)
    if len(_dist_cache) >= _CACHE_MAX:
        _dist_cache.clear()
    _dist_cache[last] = target
    return target


def _simple(path: str) -> Target:
    rest = path[len("/simple/") :]
    if path == "/simple" or rest == "":
        return Target("index-root")
    raw, _slash, extra = rest.partition("/")
    name = unquote(raw)
    if extra or not is_valid_project_name(name):
        return Target("index-project")
    return Target("index-project", "python", normalize(name))


def _npm(segments: list[str], last: str) -> Target | None:
    if len(segments) == 5 and segments[1].startswith("@"):
        name, base = f"{unquote(segments[1])}/{unquote(segments[2])}", unquote(segments[2])
    elif len(segments) == 4:
        name = unquote(segments[1])  # also /@scope%2fname/-/name-1.0.0.tgz
        base = name.split("/", 1)[1] if name.startswith("@") and "/" in name else name
    else:
        return None
    prefix = base + "-"
    if not last.startswith(prefix) or len(name) > 214:
        return None
    version = last[len(prefix) : -len(".tgz")]
    if not _NPM_VERSION.match(version):
        return None
    return Target("file", "npm", name.lower(), version, last)


def _oci(path: str) -> Target:
    if path in ("/v2", "/v2/"):
        return Target("index-root", "oci")
    m = _OCI.match(path)
    if m is None:
        return Target("other", "oci")
    name, what, ref = m["name"], m["what"], m["ref"]
    if what == "blobs":
        return Target("file", "oci", name, None, ref[:255])
    if what == "tags":
        return Target("index-project", "oci", name) if ref == "list" else Target("other", "oci")
    version = None if ":" in ref else ref[:128]  # a tag names a version, a digest does not
    return Target("index-project", "oci", name, version)
