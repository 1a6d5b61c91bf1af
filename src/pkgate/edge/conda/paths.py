"""conda request paths under `/conda/`: which document or file of which channel and subdir.

A channel URL is `https://<host>/conda/<channel>` (a channel may have label segments,
`conda-forge/label/dev`). Below it: `channeldata.json`, `<subdir>/repodata.json` and its
compressed and current forms, the sharded index `<subdir>/repodata_shards.msgpack.zst` (CEP-16)
with its shards `<subdir>/shards/<sha256>.msgpack.zst`, and package files `<subdir>/<file>`.
Every segment is checked against a strict pattern, so no path built from one can leave the
upstream's channel (no `..`, no encoded slash, no host).
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple
from urllib.parse import unquote

__all__ = [
    "CHANNELDATA",
    "FILE",
    "REPODATA",
    "SHARD",
    "SHARD_INDEX",
    "CondaPath",
    "PackageFile",
    "package_file",
    "parse_path",
]

PREFIX: Final = "/conda/"
CHANNELDATA: Final = "channeldata"
REPODATA: Final = "repodata"  # repodata.json, current_repodata.json and their compressed forms
SHARD_INDEX: Final = "shard-index"
SHARD: Final = "shard"
FILE: Final = "file"

SHARD_INDEX_NAME: Final = "repodata_shards.msgpack.zst"
#: The repodata documents a channel subdir may have, and whether each is compressed.
REPODATA_NAMES: Final = {
    "repodata.json": "",
    "repodata.json.zst": "zst",
    "repodata.json.bz2": "bz2",
    "current_repodata.json": "",
    "current_repodata.json.zst": "zst",
    "current_repodata.json.bz2": "bz2",
}
MAX_CHANNEL_SEGMENTS: Final = 4

_SEGMENT: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SUBDIR: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_SHARD: Final = re.compile(r"([0-9a-f]{64})\.msgpack\.zst")
#: `<name>-<version>-<build>.conda|.tar.bz2`: neither version nor build contains a `-`.
_PACKAGE: Final = re.compile(
    r"(?P<name>[A-Za-z0-9_][A-Za-z0-9._-]{0,199})-(?P<version>[A-Za-z0-9_.+!]{1,64})"
    r"-(?P<build>[A-Za-z0-9_.+]{1,128})(?P<ext>\.conda|\.tar\.bz2)"
)


class CondaPath(NamedTuple):
    """One request under `/conda/`: `what` is one of the kinds above; `name` is the last segment
    (the document's name, the package file's name, or the shard's sha256 in hex)."""

    what: str
    channel: str
    subdir: str  # "" for channeldata.json
    name: str


class PackageFile(NamedTuple):
    """What a package filename says: `name-version-build` and its format (`conda`, `tar.bz2`)."""

    filename: str
    name: str
    version: str
    build: str
    format: str


def package_file(filename: str) -> PackageFile | None:
    m = _PACKAGE.fullmatch(filename)
    if m is None:
        return None
    return PackageFile(filename, m["name"], m["version"], m["build"], m["ext"][1:])


def _channel(segments: list[str]) -> str | None:
    if not 1 <= len(segments) <= MAX_CHANNEL_SEGMENTS:
        return None
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        return None
    return "/".join(segments)


def parse_path(path: str) -> CondaPath | None:
    """The request `path` (raw, percent-encoded) as a `CondaPath`, or None (answer 404)."""
    if not path.startswith(PREFIX) or len(path) > 1024:
        return None
    segments = path[len(PREFIX) :].split("/")
    last = unquote(segments[-1])
    if last == "channeldata.json":
        channel = _channel(segments[:-1])
        return None if channel is None else CondaPath(CHANNELDATA, channel, "", last)
    if len(segments) >= 4 and segments[-2] == "shards":
        m = _SHARD.fullmatch(last)
        channel = _channel(segments[:-3])
        if m is None or channel is None or not _SUBDIR.fullmatch(segments[-3]):
            return None
        return CondaPath(SHARD, channel, segments[-3], m[1])
    if len(segments) < 3 or not _SUBDIR.fullmatch(segments[-2]):
        return None
    channel = _channel(segments[:-2])
    if channel is None:
        return None
    subdir = segments[-2]
    if last in REPODATA_NAMES:
        return CondaPath(REPODATA, channel, subdir, last)
    if last == SHARD_INDEX_NAME:
        return CondaPath(SHARD_INDEX, channel, subdir, last)
    if package_file(last) is not None:
        return CondaPath(FILE, channel, subdir, last)
    return None
