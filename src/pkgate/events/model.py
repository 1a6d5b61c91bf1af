"""What an event is: one answered HTTP request, already stripped of personal data.

The struct is the unit that travels edge -> spool/NATS -> store. It is encoded as a msgpack
array (field order is the wire format: append new fields at the end, with defaults, never reorder).
The raw client IP is *not* a field: the edge turns it into keyed hashes and geo facts in memory.
"""

from __future__ import annotations

import os
import random
import time
from typing import Final

import msgspec

#: The request kinds the edge distinguishes; reports count attempts by kind. `index-miss` (a project
#: no route serves, answered 404 without an upstream) is left out of downloads and attempts.
KINDS: Final = ("index-root", "index-project", "file", "metadata", "other", "index-miss")

#: Longest User-Agent kept; longer ones are cut (bounded memory, bounded rows).
MAX_UA: Final = 1024
#: Longest path kept in an event.
MAX_PATH: Final = 512


class Event(msgspec.Struct, array_like=True, omit_defaults=False, kw_only=True):
    """One request. Times are integers in microseconds (UTC epoch) so they survive every format."""

    id: str
    ts_us: int
    gateway: str
    method: str
    path: str
    kind: str
    status: int
    duration_us: int
    project: str | None = None
    version: str | None = None
    filename: str | None = None
    conditional: bool = False
    user_agent: str = ""
    # Source identity and geo, computed at the edge from the IP, which is then dropped.
    source_id: str | None = None  # keyed hash of the client address, key rotates daily
    network_id: str | None = None  # keyed hash of its /24 (IPv4) or /48 (IPv6)
    country: str | None = None  # ISO 3166 alpha-2
    asn: int | None = None
    org: str | None = None
    cloud: str | None = None  # "aws", "gcp", "azure", ... from published ranges
    # Routing facts.
    upstream: str | None = None  # name of the upstream that served the page / file
    cache: str | None = None  # "hit", "miss", "revalidated", "stale" for index pages
    failover: bool = False
    # Appended fields (wire format: only ever append).
    partial: bool = False  # the request had a Range header (uv/pip lazy-wheel metadata reads)
    ecosystem: str = "python"  # which ecosystem module answered: "python", "npm", "files", "oci", "conda"
    origin: str = "gateway"  # "gateway", or "log:<name>" for events made from an access log by `ingest`
    # HyperLogLog register updates for the weekly/monthly uniques (pkgate.enrich.sources.marks):
    # [week source, week network, month source, month network]; folded into sketches, never stored.
    marks: list[int] = msgspec.field(default_factory=list)
    # What only some ecosystems know (None elsewhere).
    platform: str | None = None  # conda subdir (`linux-64`, `noarch`); OCI platform (`linux/arm64`)
    digest: str | None = None  # OCI content digest (`sha256:...`) of the manifest or blob asked for
    command: str | None = None  # the client's own subcommand header (npm's `npm-command: ci`)


def is_download(kind: str, method: str, status: int, partial: bool = False) -> bool:
    """Whether a request is a download (the store's SQL `aggregates.DOWNLOAD` says the same).

    A whole-file GET the gateway answered with a redirect to the upstream file, or streamed itself
    (200, an upstream in `mode = "proxy"`); a GET with a Range header (`partial`) is a lazy-wheel
    metadata read, not a download. For images, a pull: an image manifest GET relayed (200).
    """
    if method != "GET":
        return False
    if kind == "file":
        return (status == 200 or 300 <= status <= 399) and not partial
    return kind == "manifest" and status == 200


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Event)


def encode(event: Event) -> bytes:
    """msgpack bytes of one event (array form: compact and fast)."""
    return _encoder.encode(event)


def decode(data: bytes) -> Event:
    """Inverse of `encode`; raises `msgspec.DecodeError` on corrupt input."""
    return _decoder.decode(data)


_rng = random.Random(os.urandom(32))
# A forked child must not repeat its parent's sequence (spawned workers import afresh anyway).
os.register_at_fork(after_in_child=lambda: _rng.seed(os.urandom(32)))


def new_id(now_ns: int | None = None) -> str:
    """A unique event id: 48-bit millisecond time + 80 random bits, hex (sortable like a ULID).

    The bits come from a per-process generator seeded from the OS, not a syscall per event: ids need
    to be unique, not secret. `now_ns` (epoch nanoseconds) saves a clock read when the caller has one.
    """
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    return f"{ms << 80 | _rng.getrandbits(80):032x}"


def now_us() -> int:
    """Wall clock in microseconds since the epoch (UTC)."""
    return time.time_ns() // 1000
