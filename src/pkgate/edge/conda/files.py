"""conda package files: routed by the package name in the filename, looked up, then redirected.

A file is looked up in what the routed upstreams list: the package's shard (through the upstream's
shard index; both small, cached, fetched if need be), else a repodata the gateway has parsed. A file
they do not list is a 404; when neither exists (no shard index, a repodata passed through unparsed)
the file is answered unverified, always inside the routed upstream's channel (docs/conda.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pkgate.config import normalize_name
from pkgate.edge.answers import text
from pkgate.edge.conda import paths as cpaths
from pkgate.edge.conda.cache import Doc, DocCache
from pkgate.edge.conda.repodata import decode_index, decode_shard, filenames, real_base
from pkgate.edge.ecosystem import FILE, INDEX_MISS, Answer, Facts, FileTarget
from pkgate.edge.failover import UpstreamHandle
from pkgate.edge.routing import Router
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["Handle", "derived_index", "resolve_file"]

Handle = UpstreamHandle[DocCache]


async def resolve_file(
    router: Router, upstreams: Mapping[str, Handle], max_bytes: int, where: cpaths.CondaPath, facts: Facts
) -> Answer:
    """A package file request: routed by its package name, looked up, answered by a FileTarget."""
    pkg = cpaths.package_file(where.name)
    if pkg is None:  # parse_path checked it
        return Answer(text(404, "not found"), FILE)
    name = normalize_name("conda", pkg.name)
    facts.project, facts.version, facts.filename = name, pkg.version, pkg.filename
    route = router.route(name)
    if route is None:
        return Answer(text(404, f"no such package: {name} (no route)"), INDEX_MISS)
    handles = _preferred([upstreams[n] for n in route.upstreams], where.channel, where.subdir)
    chosen: Handle | None = None
    for up in handles:
        listed = await _listed(up, where.channel, where.subdir, pkg, max_bytes)
        if listed:
            chosen = up
            break
        if listed is None and chosen is None:
            chosen = up  # cannot tell: its channel directory answers for itself
    if chosen is None:
        return Answer(text(404, f"not found: {pkg.filename} is not in {where.channel}/{where.subdir}"), FILE)
    shared = Facts(
        project=name,
        version=pkg.version,
        filename=pkg.filename,
        upstream=chosen.name,
        platform=where.subdir,
    )
    target = _file_base(chosen, where.channel, where.subdir) + quote(pkg.filename, safe="!+")
    return Answer(FileTarget(FILE, target, shared, chosen if chosen.mode == "proxy" else None), FILE)


async def _listed(
    up: Handle, channel: str, subdir: str, pkg: cpaths.PackageFile, max_bytes: int
) -> bool | None:
    """Whether `up` lists the file in this subdir: from its shard of the package (through its
    shard index, both small and cached), else from a repodata the gateway has parsed; None
    when it cannot tell cheaply (no shard index, a plain repodata passed through unparsed)."""
    cache, base = up.cache, f"{up.client.base_url}{channel}/{subdir}/"
    try:
        index_got = await cache.get(base + cpaths.SHARD_INDEX_NAME)
    except UpstreamNotFound:
        index_got = None
    except UpstreamError:
        index_got = cache.stale(base + cpaths.SHARD_INDEX_NAME)
    if index_got is not None:
        doc = index_got.doc
        try:
            index = derived_index(doc, max_bytes)
            digest = index["shards"].get(pkg.name)
            if not isinstance(digest, bytes):
                return False
            shard_url = f"{real_base(index, doc.url, 'shards_base_url')}{digest.hex()}.msgpack.zst"
            if not shard_url.startswith(up.client.base_url):
                return None
            shard = (await cache.get(shard_url)).doc
            return pkg.filename in _derived_files(shard, max_bytes)
        except UpstreamError:
            return None
    held = cache.stale(base + "repodata.json")
    files = held.doc.derived.get("files") if held is not None else None
    if isinstance(files, frozenset):
        return pkg.filename in files
    return None


def derived_index(doc: Doc, limit: int, what: str = "shard index") -> dict[str, Any]:
    index = doc.derived.get("index")
    if not isinstance(index, dict):
        index = doc.derived["index"] = decode_index(doc.body, limit, what)
    return index


def _derived_files(doc: Doc, limit: int) -> frozenset[str]:
    files = doc.derived.get("files")
    if not isinstance(files, frozenset):
        files = doc.derived["files"] = filenames(decode_shard(doc.body, limit, "shard"))
    return files


def _preferred(handles: list[Handle], channel: str, subdir: str) -> list[Handle]:
    """The route's upstreams, first the one whose documents for this subdir the gateway holds
    (the one the client resolved against)."""
    rels = [
        f"{channel}/{subdir}/{n}" for n in (cpaths.SHARD_INDEX_NAME, "repodata.json", "current_repodata.json")
    ]
    for i, up in enumerate(handles):
        if any(up.cache.stale(up.client.base_url + rel) is not None for rel in rels):
            return [up, *handles[:i], *handles[i + 1 :]]
    return handles


def _file_base(up: Handle, channel: str, subdir: str) -> str:
    """Where `up` keeps this subdir's files: a CEP-15 base_url its documents set, else the
    channel directory."""
    for name in (cpaths.SHARD_INDEX_NAME, "repodata.json", "current_repodata.json"):
        got = up.cache.stale(f"{up.client.base_url}{channel}/{subdir}/{name}")
        base = got.doc.derived.get("base") if got is not None else None
        if isinstance(base, str):
            return base
    return f"{up.client.base_url}{channel}/{subdir}/"
