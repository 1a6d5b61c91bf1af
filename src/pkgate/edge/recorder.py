"""Turns an answered request into an Event and makes it durable before the answer leaves.

This is where the raw client IP is last seen: it is resolved (trusted proxies only), turned into
keyed source ids and geo facts, and dropped; addresses written into the User-Agent or the path are
redacted (enrich.redact). The event is then framed into the spool with group
commit; the handler awaits that before responding, so an answered request is never lost.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Protocol

import msgspec

from pkgate.edge.clientip import ClientIP
from pkgate.enrich.geo import Enricher
from pkgate.enrich.redact import redact_ips, redact_ua
from pkgate.events import Event, encode, new_id
from pkgate.events.commit import GroupCommitter
from pkgate.events.model import MAX_PATH, MAX_UA
from pkgate.events.spool import frame


class Headers(Protocol):
    def get(self, key: str, /) -> str | None: ...


def _command(value: str | None) -> str | None:
    """A client's subcommand header as stored: at most 32 printable characters."""
    if not value:
        return None
    return "".join(c for c in value[:32] if c.isprintable()) or None


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
    ) -> Event:
        ip = self.client_ip.resolve(peer, headers.get("x-forwarded-for"), headers.get("forwarded"))
        facts = self.enricher.facts(ip, ts_us)
        ua = headers.get("user-agent") or ""
        return Event(
            id=new_id(),
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
            user_agent=redact_ua(ua[:MAX_UA]),
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
            marks=self.enricher.marks(ip, ts_us),
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
        return self.committer.append(frame(encode(event)))
