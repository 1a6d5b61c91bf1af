"""A logged request path -> the gateway's request kind, ecosystem, project, version and file.

Named exactly as the gateway's ecosystem modules record them, by their own path parsers
(`pkgate.edge.npm.packument`, `pkgate.edge.oci.names`, `pkgate.edge.conda.paths`):
- Python: `/simple/` index-root, `/simple/<project>/` index-project (PEP 503-normalised), any path
  whose last segment is a distribution file (`/packages/../six-1.16.0-py2.py3-none-any.whl`,
  `/files/...`): file, or metadata for `<file>.metadata` (PEP 658);
- npm under `/npm/` as the gateway serves it (packuments, version documents, dist-tags:
  index-project; `/-/<token>/<file>` and `/-/<name>-<version>.tgz` tarballs: file; the project as
  spelled, `@scope%2fname` decoded); a registry's own paths without the prefix: tarballs
  `/<name>/-/<name>-<version>.tgz` and scoped packuments `/@scope%2fname` (npm's spelling);
- OCI `/v2/`: manifests `manifest` (version = tag, digest = a digest reference), blobs `blob`
  (digest), tag lists index-project, the rest other;
- conda under `/conda/<channel>/`, and bare `/<channel>/<subdir>/<file>` as anaconda.org or a
  static channel logs it (subdir one of conda's platforms): package files file (project lower case,
  version, filename, platform = subdir), repodata and channeldata index-root, shards index-project;
  a bare channel (or a registry's own npm path) whose name is one of the gateway's own prefixes
  (`simple`, `v2`, `npm`, `dl`, `conda`) reads as that prefix's path, as the gateway would answer it;
- plain files `/dl/<name>/<version>/<file>` (the gateway's `[[files]]` layout): file, the name as
  spelled;
- everything else: other (no project), as the gateway records paths it does not serve.
What only the response tells (an image index or an image manifest; a dist-tag's version; the shard's
package) a log does not say: those stay as for a manifest, None and None.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

import msgspec

from pkgate.edge.conda import paths as cpaths
from pkgate.edge.names import is_valid_project_name, normalize, parse_filename
from pkgate.edge.npm import packument as npm
from pkgate.edge.oci import names as oci
from pkgate.events.model import MAX_PATH

__all__ = ["Target", "classify"]

_METADATA: Final = ".metadata"
_NPM_VERSION: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.+-]*")
#: A version or file name the files module accepts (`pkgate.edge.files.ecosystem`).
_FILES_SEGMENT: Final = re.compile(r"[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,254}")
_FILES_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: conda's platform subdirs (`conda info --all`, rattler's Platform): a bare path is a channel's
#: only when its directory is one of them.
_CONDA_SUBDIR: Final = re.compile(
    r"noarch|(?:linux|osx|win|emscripten|wasi|freebsd|zos)-(?:32|64|aarch64|arm64|armv6l|armv7l"
    r"|ppc64le|ppc64|s390x|riscv32|riscv64|wasm32)"
)
_CACHE_MAX: Final = 65536


class Target(msgspec.Struct, frozen=True):
    """What a request asked for, in the gateway's terms."""

    kind: str
    ecosystem: str = "python"
    project: str | None = None
    version: str | None = None
    filename: str | None = None
    platform: str | None = None
    digest: str | None = None


_OTHER: Final = Target("other", "gateway")
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
    if path == "/v2" or path.startswith(oci.PREFIX):
        return _oci(path)
    if path == "/npm" or path.startswith(npm.PREFIX):
        return _npm(path[len(npm.PREFIX) :] if path != "/npm" else "")
    if path.startswith(cpaths.PREFIX):
        return _conda(cpaths.parse_path(path))
    if path.startswith("/dl/"):
        return _files(path.split("/")[2:])
    segments = path.split("/")
    last = unquote(segments[-1])
    bare = _bare_npm(path[1:], last) or _bare_conda(segments, last)
    if bare is not None:
        return bare
    if "." in last:
        return _dist(last)
    return Target("other") if path in ("/", "/files") or path.startswith("/files/") else _OTHER


# ---- Python ---------------------------------------------------------------------------------------

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


# ---- npm ------------------------------------------------------------------------------------------

_NPM_OTHER: Final = Target("other", "npm")
_TAGS: Final = "-/package/"
_TAGS_END: Final = "/dist-tags"


def _npm(rest: str) -> Target:
    """`/npm/<rest>` as `pkgate.edge.npm.ecosystem` records it."""
    tags = rest.startswith(_TAGS) and rest.endswith(_TAGS_END)
    if (rest.startswith("-/") and not tags) or not rest:
        return _NPM_OTHER
    where = npm.parse_path(rest[len(_TAGS) : -len(_TAGS_END)] if tags else rest)
    if where is None or (tags and where.tail):
        return _NPM_OTHER
    name, tail = where
    if tail[:1] == ("-",):
        if len(tail) in (2, 3):  # `-/<file>` (npm's conventional path) or `-/<token>/<file>` (signed)
            filename = unquote(tail[-1])[:255]
            return Target("file", "npm", name, _tarball_version(name, filename), filename)
        return Target("file", "npm", name)
    if len(tail) == 1 and npm.valid_version(unquote(tail[0])):
        # A version document; the gateway records the version a dist-tag resolves to, unknown here.
        version = unquote(tail[0])
        return Target("index-project", "npm", name, version if _NPM_VERSION.fullmatch(version) else None)
    return Target("index-project", "npm", name)


def _tarball_version(name: str, filename: str) -> str | None:
    """The version in npm's `<name>-<version>.tgz` (the last part of a scoped name)."""
    prefix = name.rsplit("/", 1)[-1] + "-"
    if not filename.startswith(prefix) or not filename.endswith(".tgz"):
        return None
    version = filename[len(prefix) : -len(".tgz")]
    return version[:128] if _NPM_VERSION.fullmatch(version) else None


def _bare_npm(rest: str, last: str) -> Target | None:
    """A registry's own paths, without `/npm/`: only the unambiguous ones (a tarball whose file is
    `<name>-<version>.tgz`, a scoped packument spelt `@scope%2fname`)."""
    if not (last.endswith(".tgz") or rest[:1] == "@"):
        return None
    where = npm.parse_path(rest)
    if where is None:
        return None
    name, tail = where
    if len(tail) == 2 and tail[0] == "-":
        version = _tarball_version(name, last)
        return None if version is None else Target("file", "npm", name, version, last[:255])
    if not tail and "/" in name and "/" not in rest.rstrip("/"):
        return Target("index-project", "npm", name)
    return None


# ---- OCI ------------------------------------------------------------------------------------------

_OCI_OTHER: Final = Target("other", "oci")


def _oci(path: str) -> Target:
    """`/v2/...` as `pkgate.edge.oci` records it (`/v2/` itself and `/v2/_token` are other)."""
    where = oci.parse_path(path)
    if where is None:
        return _OCI_OTHER
    repo, endpoint, ref = where
    if endpoint == oci.TAGS:
        return Target("index-project", "oci", repo)
    if endpoint == oci.BLOBS:
        return Target("blob", "oci", repo, None, ref, digest=ref)
    if oci.is_digest(ref):
        return Target("manifest", "oci", repo, None, ref, digest=ref)
    return Target("manifest", "oci", repo, ref)


# ---- conda ----------------------------------------------------------------------------------------

_CONDA_KIND: Final = {cpaths.FILE: "file", cpaths.SHARD: "index-project"}


def _conda(where: cpaths.CondaPath | None) -> Target:
    """A `/conda/` path as `pkgate.edge.conda` records it."""
    if where is None:
        return Target("other", "conda")
    platform = where.subdir or None
    if where.what == cpaths.FILE:
        pkg = cpaths.package_file(where.name)
        if pkg is not None:
            return Target("file", "conda", pkg.name.lower(), pkg.version, pkg.filename, platform)
    return Target(_CONDA_KIND.get(where.what, "index-root"), "conda", platform=platform)


def _bare_conda(segments: list[str], last: str) -> Target | None:
    """`/<channel>/<subdir>/<file>` (anaconda.org, a static channel): a channel's when the directory
    is a conda platform, or the file is `channeldata.json`."""
    if len(segments) < 3:
        return None
    shard = len(segments) >= 4 and segments[-2] == "shards"
    subdir = segments[-3] if shard else segments[-2]
    if last != "channeldata.json" and not _CONDA_SUBDIR.fullmatch(subdir):
        return None
    where = cpaths.parse_path(cpaths.PREFIX + "/".join(segments[1:]))
    return None if where is None else _conda(where)


# ---- plain files ----------------------------------------------------------------------------------


def _files(parts: list[str]) -> Target:
    """`/dl/<name>/<version>/<file>` as `pkgate.edge.files` records it (the name as configured)."""
    name = unquote(parts[0]) if parts else ""
    if len(parts) != 3 or not _FILES_NAME.fullmatch(name):
        return Target("other", "files")
    version, filename = unquote(parts[1]), unquote(parts[2])
    if not _FILES_SEGMENT.fullmatch(version) or not _FILES_SEGMENT.fullmatch(filename):
        return Target("file", "files", name)
    return Target("file", "files", name, version, filename)
