"""Reading and composing conda channel documents: repodata JSON and the CEP-16 shard index.

Composition is how routing reaches conda: a channel subdir's document is made of one part per
route (the default upstream's, and one per routing rule), each keeping only the packages whose
names route to it. A claimed name's records therefore come only from its rule's upstreams,
whatever the default upstream lists (docs/routing.md). Files stay relative: `info.base_url` is
dropped (files are then fetched from the gateway, next to the document) and each upstream's real
base is remembered for the redirect.
"""

from __future__ import annotations

import bz2
import re
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple
from urllib.parse import urljoin

import msgspec
import zstandard

from pkgate.errors import UpstreamError

__all__ = [
    "HEAD_BYTES",
    "Part",
    "compose_channeldata",
    "compose_index",
    "compose_repodata",
    "decode_index",
    "decode_json",
    "decode_shard",
    "encode_index",
    "filenames",
    "head_has_base_url",
    "real_base",
]

#: Maps of filename -> record in a repodata document (CEP-15's `v3` holds more such maps).
RECORD_MAPS: Final = ("packages", "packages.conda")
#: How much of a compressed repodata is decompressed to see its `info` (which comes first).
HEAD_BYTES: Final = 65536
_INFO: Final = re.compile(rb'"info"\s*:\s*\{([^{}]*)\}')

Keep = Callable[[str], bool]


class Part(NamedTuple):
    """One route's share of a document: the decoded document and which names it may give."""

    doc: dict[str, Any]
    keep: Keep


def decode_json(body: bytes, what: str) -> dict[str, Any]:
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"{what}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UpstreamError(f"{what}: not a JSON object")
    return doc


def _unzstd(body: bytes, limit: int, what: str) -> bytes:
    try:
        with zstandard.ZstdDecompressor().stream_reader(body) as reader:
            out = reader.read(limit + 1)
    except zstandard.ZstdError as exc:
        raise UpstreamError(f"{what}: bad zstd: {exc}") from None
    if len(out) > limit:
        raise UpstreamError(f"{what}: larger than {limit} bytes uncompressed")
    return out


def decode_index(body: bytes, limit: int, what: str) -> dict[str, Any]:
    """A `repodata_shards.msgpack.zst`: `{"info": {...}, "shards": {name: sha256 bytes}}`."""
    raw = _unzstd(body, limit, what)
    try:
        doc = msgspec.msgpack.decode(raw)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"{what}: not msgpack: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("shards"), dict):
        raise UpstreamError(f"{what}: not a shard index")
    return doc


def decode_shard(body: bytes, limit: int, what: str) -> dict[str, Any]:
    """One package's shard: `{"packages": {...}, "packages.conda": {...}, "removed": [...]}`."""
    raw = _unzstd(body, limit, what)
    try:
        doc = msgspec.msgpack.decode(raw)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"{what}: not msgpack: {exc}") from None
    if not isinstance(doc, dict):
        raise UpstreamError(f"{what}: not a shard")
    return doc


def filenames(doc: dict[str, Any]) -> frozenset[str]:
    """Every package filename a repodata (or a shard) lists."""
    names: set[str] = set()
    for key in RECORD_MAPS:
        names.update(k for k in _records(doc, key) if isinstance(k, str))
    v3 = doc.get("v3")
    if isinstance(v3, dict):
        for records in v3.values():
            if isinstance(records, dict):
                names.update(k for k in records if isinstance(k, str))
    return frozenset(names)


def encode_index(doc: dict[str, Any]) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(msgspec.msgpack.encode(doc))


def real_base(doc: dict[str, Any], doc_url: str, key: str = "base_url") -> str:
    """Where the document's relative file (or shard) names resolve: CEP-15 `info.base_url`
    (itself relative to the document), else the document's own directory."""
    info = doc.get("info")
    base = info.get(key) if isinstance(info, dict) else None
    if not isinstance(base, str) or not base:
        base = "./shards/" if key == "shards_base_url" else "./"
    if not base.endswith("/"):
        base += "/"
    return urljoin(doc_url, base)


def _records(doc: dict[str, Any], key: str) -> dict[str, Any]:
    found = doc.get(key)
    return found if isinstance(found, dict) else {}


def _name(record: object) -> str:
    name = record.get("name") if isinstance(record, dict) else None
    return name if isinstance(name, str) else ""


def _merge_maps(maps: Sequence[tuple[dict[str, Any], Keep]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for records, keep in maps:
        for fn, rec in records.items():
            if fn not in out and keep(_name(rec)):
                out[fn] = rec
    return out


def compose_repodata(parts: Sequence[Part]) -> dict[str, Any]:
    """One repodata from route parts (the first part gives `info`, `removed` and the rest)."""
    out = dict(parts[0].doc)
    info = out.get("info")
    if isinstance(info, dict):
        out["info"] = {k: v for k, v in info.items() if k != "base_url"}
    for key in RECORD_MAPS:
        if any(key in p.doc for p in parts):
            out[key] = _merge_maps([(_records(p.doc, key), p.keep) for p in parts])
    v3s = [(p.doc.get("v3"), p.keep) for p in parts]
    if any(isinstance(v3, dict) for v3, _ in v3s):
        keys = dict.fromkeys(k for v3, _ in v3s if isinstance(v3, dict) for k in v3)
        out["v3"] = {
            key: _merge_maps([(_records(v3, key), keep) for v3, keep in v3s if isinstance(v3, dict)])
            for key in keys
        }
    return out


def compose_channeldata(parts: Sequence[Part]) -> dict[str, Any]:
    """One channeldata.json from route parts: its `packages` map is keyed by package name."""
    out = dict(parts[0].doc)
    packages: dict[str, Any] = {}
    for part in parts:
        for name, entry in _records(part.doc, "packages").items():
            if name not in packages and part.keep(name):
                packages[name] = entry
    out["packages"] = packages
    return out


class Owner(NamedTuple):
    """Whose shard a hash is: the part (route order) and the package name."""

    part: int
    name: str


def compose_index(parts: Sequence[Part]) -> tuple[dict[str, Any], dict[str, Owner]]:
    """One shard index from route parts, and the owner of each shard (by sha256 hex)."""
    out = dict(parts[0].doc)
    info = out.get("info")
    out["info"] = {
        **(info if isinstance(info, dict) else {}),
        "base_url": "",
        "shards_base_url": "./shards/",
    }
    shards: dict[str, bytes] = {}
    owners: dict[str, Owner] = {}
    for i, part in enumerate(parts):
        for name, digest in _records(part.doc, "shards").items():
            if name in shards or not isinstance(digest, bytes) or len(digest) != 32:
                continue
            if part.keep(name):
                shards[name] = digest
                owners[digest.hex()] = Owner(i, name)
    out["shards"] = shards
    return out, owners


def head_has_base_url(body: bytes, codec: str) -> bool:
    """Whether a compressed repodata sets `info.base_url` (True also when that cannot be told:
    the caller then answers 404 and the client falls back to the plain JSON, which is rewritten)."""
    try:
        if codec == "zst":
            with zstandard.ZstdDecompressor().stream_reader(body) as reader:
                head = reader.read(HEAD_BYTES)
        else:
            head = bz2.BZ2Decompressor().decompress(body, HEAD_BYTES)
    except (zstandard.ZstdError, OSError, EOFError, ValueError):
        return True
    m = _INFO.search(head)
    return m is None or b'"base_url"' in m[1]
