"""Turns an answered request into an Event and makes it durable before the answer leaves.

This is where the raw client IP is last seen: it is resolved (trusted proxies only), turned into
keyed source ids and geo facts, and dropped; addresses written into the User-Agent or the path are
redacted (enrich.redact). The event is then framed into the spool with group
commit; the handler awaits that before responding, so an answered request is never lost.

The file-redirect hot path does not build an `Event`: a memoised link keeps a `Template`, the
msgpack of its first event with the fields that vary per request (`PER_REQUEST`) left as holes,
and each request fills in those holes, with the client's fields pre-encoded per address and day
and the User-Agent per string. The template is cut from a real event by field name, so fields
appended to `Event` are carried along; a field that varies per request must be added to
`PER_REQUEST` and to `record_known` (tests/edge/test_recorder.py compares both paths).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Final, NamedTuple, Protocol

import msgspec
from msgspec.structs import astuple

from pkgate.edge.clientip import ClientIP
from pkgate.enrich.geo import Enricher, SourceFacts
from pkgate.enrich.redact import redact_ips, redact_ua
from pkgate.enrich.sources import DAY_US
from pkgate.events import Event, new_id
from pkgate.events.commit import GroupCommitter
from pkgate.events.model import MAX_PATH, MAX_UA
from pkgate.events.spool import HEADER_SIZE, seal

__all__ = ["PER_REQUEST", "Headers", "Recorder", "Template"]


class Headers(Protocol):
    def get(self, key: str, /) -> str | None: ...


def _command(value: str | None) -> str | None:
    """A client's subcommand header as stored: at most 32 printable characters."""
    if not value:
        return None
    return "".join(c for c in value[:32] if c.isprintable()) or None


_encoder = msgspec.msgpack.Encoder()
_FIELDS: Final = Event.__struct_fields__
#: The client's fields (`SourceFacts`), consecutive in `Event`: one pre-encoded hole.
_CLIENT: Final = SourceFacts.__struct_fields__
#: Event fields that differ between requests for the same link; every other field is the link's.
PER_REQUEST: Final = (
    "id",
    "ts_us",
    "method",
    "duration_us",
    "user_agent",
    *_CLIENT,
    "partial",
    "marks",
    "command",
)
_MAX_UAS: Final = 4096  # distinct User-Agents kept encoded (a gateway sees few)
_MAX_CLIENTS: Final = 16_384  # addresses kept encoded for today
_MAX_CHUNKS: Final = 4096  # shared constant chunks (gateway id, ecosystem, ...)


def _layout() -> tuple[tuple[tuple[bool, tuple[int, ...]], ...], dict[str, int]]:
    """The template's slots: runs of the link's fields (constant) between per-request holes."""
    first = _FIELDS.index(_CLIENT[0])
    if _FIELDS[first : first + len(_CLIENT)] != _CLIENT:
        raise RuntimeError("Event's client fields must follow SourceFacts' order, consecutively")
    slots: list[tuple[bool, tuple[int, ...]]] = []
    holes: dict[str, int] = {}
    for i, name in enumerate(_FIELDS):
        if name in _CLIENT[1:]:
            continue
        if name in PER_REQUEST:
            holes[name] = len(slots)
            slots.append((False, (i,)))
        elif slots and slots[-1][0]:
            slots[-1] = (True, (*slots[-1][1], i))
        else:
            slots.append((True, (i,)))
    return tuple(slots), holes


def _array_header(n: int) -> bytes:
    encoded = _encoder.encode([None] * n)  # the header, then n one-byte nils
    return encoded[: len(encoded) - n]


_SLOTS, _HOLES = _layout()
_ID, _TS, _METHOD, _DURATION, _UA, _CLIENT_AT, _PARTIAL, _MARKS, _COMMAND = (
    _HOLES[n]
    for n in ("id", "ts_us", "method", "duration_us", "user_agent", _CLIENT[0], "partial", "marks", "command")
)
_ARRAY: Final = _array_header(len(_FIELDS))  # what the event's array header must say
#: Where the slots are encoded: their (shorter or equal) array header ends where the event's does.
_AT: Final = HEADER_SIZE + len(_ARRAY) - len(_array_header(len(_SLOTS)))
_ARRAY_END: Final = HEADER_SIZE + len(_ARRAY)


def _encoded(values: tuple[object, ...] | list[object]) -> bytes:
    """The msgpack of `values` one after another (an array's items, without its header)."""
    return _encoder.encode(values)[len(_array_header(len(values))) :]


class Template(NamedTuple):
    """A link's pre-encoded event: `Raw` chunks of its own fields, None where a request's go."""

    slots: tuple[msgspec.Raw | None, ...]


class _Client(NamedTuple):
    """One address's facts for one UTC day, also pre-encoded for templates."""

    day: int
    facts: SourceFacts
    marks: list[int]
    raw: msgspec.Raw  # the `_CLIENT` fields
    raw_marks: msgspec.Raw


class Recorder:
    def __init__(
        self,
        gateway_id: str,
        committer: GroupCommitter,
        enricher: Enricher,
        client_ip: ClientIP,
        access_log: bool = False,
    ) -> None:
        self.gateway_id = gateway_id
        self.committer = committer
        self.enricher = enricher
        self.client_ip = client_ip
        self.access_log = access_log
        self._log_encoder = msgspec.json.Encoder()
        # No trusted proxy: the peer is the client, forwarding headers are not even looked up.
        self._direct = not client_ip.forwarding
        self._clients: dict[str, _Client] = {}
        self._uas: dict[str, tuple[str, msgspec.Raw]] = {}
        self._chunks: dict[bytes, msgspec.Raw] = {}

    def _ip(self, headers: Headers, peer: str) -> str:
        if self._direct:
            return peer
        return self.client_ip.resolve(peer, headers.get("x-forwarded-for"), headers.get("forwarded"))

    def _client(self, ip: str, ts_us: int) -> _Client:
        day = ts_us // DAY_US
        hit = self._clients.get(ip)
        if hit is not None and hit.day == day:
            return hit
        facts = self.enricher.facts(ip, ts_us)
        marks = self.enricher.marks(ip, ts_us)
        client = _Client(
            day, facts, marks, msgspec.Raw(_encoded(astuple(facts))), msgspec.Raw(_encoder.encode(marks))
        )
        if len(self._clients) >= _MAX_CLIENTS:
            self._clients.clear()
        self._clients[ip] = client
        return client

    def _ua(self, raw: str) -> tuple[str, msgspec.Raw]:
        hit = self._uas.get(raw)
        if hit is None:
            ua = redact_ua(raw[:MAX_UA])
            hit = (ua, msgspec.Raw(_encoder.encode(ua)))
            if len(self._uas) >= _MAX_UAS:
                self._uas.clear()
            self._uas[raw] = hit
        return hit

    def build(
        self,
        *,
        ts_us: int,
        duration_us: int,
        method: str,
        path: str,
        kind: str,
        status: int,
        headers: Headers,
        peer: str,
        project: str | None = None,
        version: str | None = None,
        filename: str | None = None,
        conditional: bool = False,
        upstream: str | None = None,
        cache: str | None = None,
        failover: bool = False,
        ecosystem: str = "python",
        platform: str | None = None,
        digest: str | None = None,
        command: str | None = None,
        now_ns: int | None = None,
    ) -> Event:
        """The event of a request; `peer` is the connection's address without port (the server
        adapters strip it); `now_ns` (epoch ns) saves the id's clock read."""
        client = self._client(self._ip(headers, peer), ts_us)
        facts = client.facts
        return Event(
            id=new_id(now_ns),
            ts_us=ts_us,
            gateway=self.gateway_id,
            method=method[:16],
            path=redact_ips(path[:MAX_PATH]),  # an address a client wrote is still an address
            kind=kind,
            status=status,
            duration_us=duration_us,
            project=project,
            version=version,
            filename=filename,
            conditional=conditional,
            user_agent=self._ua(headers.get("user-agent") or "")[0],
            source_id=facts.source_id,
            network_id=facts.network_id,
            country=facts.country,
            asn=facts.asn,
            org=facts.org,
            cloud=facts.cloud,
            upstream=upstream,
            cache=cache,
            failover=failover,
            partial=headers.get("range") is not None,
            ecosystem=ecosystem,
            marks=client.marks,
            platform=platform,
            digest=digest,
            # npm, pnpm and yarn name their subcommand in `npm-command` on every request, also on
            # memoised tarball links whose facts are shared: read here, not by the ecosystem.
            command=command if command is not None else _command(headers.get("npm-command")),
        )

    def record(self, event: Event) -> asyncio.Future[None]:
        """Spool the event; the returned future resolves once it is written (group commit)."""
        if self.access_log:
            sys.stdout.write(self._log_encoder.encode(msgspec.structs.asdict(event)).decode() + "\n")
        buf = bytearray(HEADER_SIZE)
        _encoder.encode_into(event, buf, HEADER_SIZE)
        return self.committer.append(seal(buf))

    def template(self, event: Event) -> Template:
        """`event` (a link's first) with its per-request fields cut out, the rest pre-encoded."""
        values = astuple(event)
        slots: list[msgspec.Raw | None] = []
        for constant, fields in _SLOTS:
            if not constant:
                slots.append(None)
                continue
            data = _encoded([values[i] for i in fields])
            raw = self._chunks.get(data)  # gateway id, ecosystem...: one copy for every link
            if raw is None:
                raw = msgspec.Raw(data)
                if len(self._chunks) >= _MAX_CHUNKS:
                    self._chunks.clear()
                self._chunks[data] = raw
            slots.append(raw)
        return Template(tuple(slots))

    def record_known(
        self, template: Template, now_ns: int, method: str, headers: Headers, peer: str
    ) -> asyncio.Future[None]:
        """`record(build(...))` for another request of a templated link, answered from memory
        (duration 0): only the per-request fields are worked out and encoded."""
        ts_us = now_ns // 1000
        client = self._client(peer if self._direct else self._ip(headers, peer), ts_us)
        slots: list[object] = list(template.slots)
        slots[_ID] = new_id(now_ns)
        slots[_TS] = ts_us
        slots[_METHOD] = method[:16]
        slots[_DURATION] = 0
        slots[_UA] = self._ua(headers.get("user-agent") or "")[1]
        slots[_CLIENT_AT] = client.raw
        slots[_PARTIAL] = headers.get("range") is not None
        slots[_MARKS] = client.raw_marks
        slots[_COMMAND] = _command(headers.get("npm-command"))
        buf = bytearray(_AT)
        _encoder.encode_into(slots, buf, _AT)
        buf[HEADER_SIZE:_ARRAY_END] = _ARRAY
        return self.committer.append(seal(buf))
