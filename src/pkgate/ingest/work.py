"""One chunk of log lines -> events (as the store's Arrow rows) + what was rejected and why.

This is the part that runs in every worker process: parse, classify, enrich (the address is used
here and dropped), build the event with an id derived from the log's identity, the line's byte
offset and its content, and turn the chunk's events into the loader's table (`to_table`, the
User-Agent parsed exactly as for gateway events).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections import Counter
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec

from pkgate.config import Config
from pkgate.edge.oci.blobs import REDIRECT as BLOB_REDIRECT
from pkgate.enrich.redact import redact_ips
from pkgate.enrich.sources import DAY_US
from pkgate.events.model import MAX_PATH, now_us
from pkgate.ingest.classify import Target, classify
from pkgate.ingest.columns import LINE_FIELDS, ChunkColumns
from pkgate.ingest.detect import Parser
from pkgate.ingest.enrich import IngestEnricher
from pkgate.ingest.handoff import Handoff
from pkgate.ingest.reader import MAX_LINE, Chunk
from pkgate.ingest.record import BadLine, Record

__all__ = ["BadAt", "ChunkResult", "Worker", "as_answered"]

log = logging.getLogger("pkgate.ingest")

#: Lines stamped later than this past the ingest's start are rejected (`future`): a wrong clock
#: must not make the key rotation think a new day has begun.
FUTURE_SLACK_US: Final = 300_000_000
_SERVED: Final = (200, 206)
_READ: Final = ("GET", "HEAD")


def as_answered(what: Target, method: str, status: int, redirect_status: int) -> tuple[Target, int]:
    """The target and status the gateway would have recorded for this method and logged status.

    A file the logged server sent itself (`200`/`206`) is what the gateway answers with a redirect
    to it: `redirect_status` for Python, npm, conda and plain files, 307 for an OCI blob. An image
    manifest relayed `200` stays `200` (the gateway's pull), and has a digest only then. A write
    (neither GET nor HEAD) is refused before anything but the project is known (conda: not even
    that, nor the platform).
    """
    if method not in _READ:
        if what.ecosystem in ("npm", "oci", "files"):
            return Target(what.kind, what.ecosystem, what.project), status
        if what.ecosystem == "conda":
            return Target(what.kind, what.ecosystem), status
        return what, status
    if what.kind == "manifest" and status != 200 and what.digest is not None:
        return msgspec.structs.replace(what, digest=None, filename=None), status
    if status in _SERVED:
        if what.kind in ("file", "metadata"):
            return what, redirect_status
        if what.kind == "blob":
            return what, BLOB_REDIRECT
    return what, status


def _command(value: str | None) -> str | None:
    """A subcommand header as the gateway stores it: at most 32 printable characters."""
    if not value:
        return None
    return "".join(c for c in value[:32] if c.isprintable()) or None


class BadAt(msgspec.Struct, frozen=True):
    line: int
    offset: int
    reason: str
    detail: str


class ChunkResult(msgspec.Struct):
    table: Any  # pyarrow.Table of the events, None when there are none (or handed off)
    events: int
    lines: int
    blank: int
    rejects: dict[str, int]
    first_bad: BadAt | None
    end_offset: int  # where the next unread line starts
    end_line: int
    handed_off: str | None = None  # the table's name in the run's `Handoff` (worker processes)


class Worker:
    """Per-process state: the enricher (with this run's key for destroyed days) and settings."""

    def __init__(self, cfg: Config, run_secret: bytes, started_us: int, strict: bool) -> None:
        self.enricher = IngestEnricher(cfg, run_secret, started_us)
        self.gateway = cfg.gateway_id
        self.redirect_status = cfg.gateway.redirect_status
        self.strict = strict
        self.latest_us = max(started_us, now_us()) + FUTURE_SLACK_US

    def request(self, key: tuple[str, str, int]) -> tuple[Any, ...]:
        """The `REQUEST_FIELDS` of a logged (method, target, status), as the gateway records them."""
        method, target, logged_status = key
        if not target.startswith("/"):
            target = (urlsplit(target).path or "/") if target.startswith("http") else "/"
        path = target.split("?", 1)[0]
        what, status = as_answered(classify(path), method, logged_status, self.redirect_status)
        return (
            method[:16],
            redact_ips(path[:MAX_PATH]),  # as the gateway: an address in a path is still one
            what.kind,
            status,
            what.project,
            what.version,
            what.filename,
            what.ecosystem,
            what.platform,
            what.digest,
        )

    def check(self, rec: Record) -> None:
        """BadLine for a parsed line no event can be made of."""
        if not rec.ip:
            raise BadLine("missing-field", "client address")
        if rec.ts_us > self.latest_us or rec.ts_us // DAY_US > self.enricher.today:
            raise BadLine("future", "timestamp after the ingest started")
        if rec.ts_us <= 0:
            raise BadLine("timestamp", "before 1970")

    def run(self, chunk: Chunk, identity: bytes, parser: Parser, origin: str) -> ChunkResult:
        rejects: Counter[str] = Counter()
        if chunk.too_long:
            rejects["too-long"] += 1
            bad = BadAt(chunk.line, chunk.offset, "too-long", f"longer than {MAX_LINE} bytes")
            return ChunkResult(None, 0, 1, 0, dict(rejects), bad, chunk.offset, chunk.line + 1)
        out = ChunkColumns(
            self.request,
            self.enricher.row,
            {"gateway": self.gateway, "origin": origin, "upstream": None, "cache": None, "failover": False},
        )
        # The loop below is the ingest's inner loop: names are bound locally on purpose.
        parse, check, blake2b = parser.parse, self.check, hashlib.blake2b
        request_no, fact_no, agent_no = out.requests.number, out.facts.number, out.agents.number
        ids, stamps = out.ids, out.ts
        requests, facts, agents = out.request_no, out.fact_no, out.agent_no
        durations, conditionals, partials, commands = (out.line[n] for n in LINE_FIELDS)
        first_bad: BadAt | None = None
        offset, number, blank = chunk.offset, chunk.line, 0
        data = chunk.read()
        size = len(data)
        for raw in io.BytesIO(data):  # a line at a time: a list of a chunk's lines is its size again
            start, number_here = offset, number
            offset += len(raw)
            number += 1
            try:
                if len(raw) > MAX_LINE and len(raw) - raw.endswith(b"\n") > MAX_LINE:
                    raise BadLine("too-long", f"longer than {MAX_LINE} bytes")
                text = raw.decode("utf-8", "replace")
                if text.endswith("\n"):
                    text = text[:-1]
                rec = parse(text[:-1] if text.endswith("\r") else text)
                if rec is None:
                    blank += 1
                    continue
                check(rec)
            except BadLine as exc:
                rejects[exc.reason] += 1
                if first_bad is None:
                    first_bad = BadAt(number_here, start, exc.reason, str(exc))
                if self.strict:
                    offset, number = start, number_here
                    break
                continue
            ts, ua = rec.ts_us, rec.user_agent
            digest = blake2b(identity + start.to_bytes(8, "little"), digest_size=16)
            digest.update(
                f"{ts} {rec.method} {rec.target} {rec.status} {ua}".encode("utf-8", "surrogatepass")
            )
            ids.append(digest.hexdigest())
            stamps.append(ts)
            requests.append(request_no((rec.method, rec.target, rec.status)))
            facts.append(fact_no((ts // DAY_US, rec.ip, rec.forwarded_for)))
            agents.append(agent_no(ua))
            durations.append(rec.duration_us)
            conditionals.append(bool(rec.conditional))
            partials.append(bool(rec.partial))
            commands.append(_command(rec.command))
        offset = min(offset, chunk.offset + size)
        table = out.table() if len(out) else None
        return ChunkResult(
            table, len(out), number - chunk.line, blank, dict(rejects), first_bad, offset, number
        )

    def close(self) -> None:
        self.enricher.close()


_worker: Worker | None = None
_handoff: Handoff | None = None


def init_process(cfg: Config, run_secret: bytes, started_us: int, strict: bool, handoff: Handoff) -> None:
    """Pool initializer: one Worker per process (inherited by fork, never pickled to disk)."""
    global _worker, _handoff
    _worker = Worker(cfg, run_secret, started_us, strict)
    _handoff = handoff


def run_in_process(chunk: Chunk, identity: bytes, parser: Parser, origin: str) -> ChunkResult:
    """`Worker.run` in a pool process; its table goes back through the `Handoff`."""
    assert _worker is not None, "init_process was not called"
    assert _handoff is not None, "init_process was not called"
    result = _worker.run(chunk, identity, parser, origin)
    if result.table is not None:
        try:
            result.handed_off, result.table = _handoff.put(result.table), None
        except OSError as exc:  # /dev/shm full (a container's is 64 MiB): through the pipe instead
            log.warning(
                "ingest: cannot hand a table over in %s (%s); sending it through the pipe", _handoff.dir, exc
            )
    return result
