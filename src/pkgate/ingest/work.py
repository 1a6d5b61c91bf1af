"""One chunk of log lines -> events (as the store's Arrow rows) + what was rejected and why.

This is the part that runs in every worker process: parse, classify, enrich (the address is used
here and dropped), build the event with an id derived from the log's identity, the line's byte
offset and its content, and turn the chunk's events into the store's rows (`Rows`, as `to_rows`
makes them of gateway events, the User-Agent parsed the same way).
"""

from __future__ import annotations

import gc
import hashlib
import io
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

import msgspec
import pyarrow.compute as pc

from pkgate.config import Config
from pkgate.edge.oci.blobs import REDIRECT as BLOB_REDIRECT
from pkgate.enrich.redact import redact_ips
from pkgate.enrich.sources import DAY_US
from pkgate.events.model import MAX_PATH, now_us
from pkgate.ingest.classify import Target, classify
from pkgate.ingest.columns import LINE_FIELDS, ChunkColumns
from pkgate.ingest.combined import CombinedParser
from pkgate.ingest.detect import Parser
from pkgate.ingest.enrich import IngestEnricher
from pkgate.ingest.handoff import Handoff
from pkgate.ingest.progress import Position
from pkgate.ingest.reader import MAX_LINE, Chunk
from pkgate.ingest.record import BadLine, Record
from pkgate.ingest.vector import Plain, plain_events
from pkgate.store.rows import Rows

__all__ = ["BadAt", "ChunkResult", "Worker", "as_answered"]

log = logging.getLogger("pkgate.ingest")

#: Lines stamped later than this past the ingest's start are rejected (`future`): a wrong clock
#: must not make the key rotation think a new day has begun.
FUTURE_SLACK_US: Final = 300_000_000
_SERVED: Final = (200, 206)
#: The cyclic collector's thresholds in a worker process (Python's default: 700, 10, 10).
GC_THRESHOLDS: Final = (50_000, 20, 100)
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
    rows: Rows | None  # the events as the store's rows, None when there are none (or handed off)
    events: int
    lines: int
    blank: int
    rejects: dict[str, int]
    first_bad: BadAt | None
    end_offset: int  # where the next unread line starts
    end_line: int
    handed_off: str | None = None  # the rows' name in the run's `Handoff` (worker processes)

    def counted_from(self, line: int) -> ChunkResult:
        """This result of a chunk numbered from 0 (`Chunk.line`) with its line numbers counted from
        `line`, the number of the chunk's first line."""
        bad = self.first_bad
        if bad is not None:
            bad = msgspec.structs.replace(bad, line=bad.line + line)
        return msgspec.structs.replace(self, first_bad=bad, end_line=self.end_line + line)


class _Line(NamedTuple):
    start: int  # byte offset in the log
    number: int  # 1-based
    raw: bytes  # with its line feed, if it has one


def _every_line(data: bytes, offset: int, number: int) -> Iterator[_Line]:
    for raw in io.BytesIO(data):  # a line at a time: a list of a chunk's lines is its size again
        yield _Line(offset, number, raw)
        offset += len(raw)
        number += 1


def _these_lines(data: bytes, plain: Plain, offset: int, number: int) -> Iterator[_Line]:
    """The lines the fast path left, in order."""
    if plain.rest:
        starts = plain.starts.to_pylist()
        for i in plain.rest:
            yield _Line(offset + starts[i], number + i, data[starts[i] : starts[i + 1]])


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
        self.check_time(rec.ts_us)

    def check_time(self, ts_us: int) -> None:
        """BadLine for a time no event may have: after the ingest started, or before 1970."""
        if ts_us > self.latest_us or ts_us // DAY_US > self.enricher.today:
            raise BadLine("future", "timestamp after the ingest started")
        if ts_us <= 0:
            raise BadLine("timestamp", "before 1970")

    def run(self, chunk: Chunk, identity: bytes, parser: Parser, origin: str) -> ChunkResult:
        if chunk.too_long:
            long = BadLine("too-long", f"longer than {MAX_LINE} bytes")  # as a line found long says
            bad = BadAt(chunk.line, chunk.offset, long.reason, str(long))
            if self.strict:  # stopped at the line, as for any other bad line: it is read again
                return ChunkResult(None, 0, 0, 0, {"too-long": 1}, bad, chunk.offset, chunk.line)
            skipped = chunk.offset + chunk.length
            return ChunkResult(None, 0, 1, 0, {"too-long": 1}, bad, skipped, chunk.line + 1)
        out = ChunkColumns(
            self.request,
            self.enricher.row,
            {"gateway": self.gateway, "origin": origin, "upstream": None, "cache": None, "failover": False},
        )
        data = chunk.read()
        plain = None
        if isinstance(parser, CombinedParser):
            plain = plain_events(self, out, data, chunk.offset, identity)
        if plain is None:
            rest = _every_line(data, chunk.offset, chunk.line)
        else:
            rest = _these_lines(data, plain, chunk.offset, chunk.line)
        count = plain.line_count if plain is not None else data.count(b"\n") + (data[-1:] not in (b"", b"\n"))
        end = Position(chunk.offset + len(data), chunk.line + count)
        rejects: Counter[str] = Counter()
        first_bad, blank, stop = self._lines(out, rest, identity, parser, rejects)
        if plain is not None:
            fast = plain.columns
            if stop is not None and fast:  # --strict: no event after the first bad line
                before = pc.less(plain.line, stop.line - chunk.line)
                fast = {name: column.filter(before) for name, column in fast.items()}
            if fast:
                out.add(fast)
        end = stop or end
        rows = out.table() if len(out) else None
        return ChunkResult(
            rows, len(out), end.line - chunk.line, blank, dict(rejects), first_bad, end.offset, end.line
        )

    def _lines(
        self,
        out: ChunkColumns,
        lines: Iterable[_Line],
        identity: bytes,
        parser: Parser,
        rejects: Counter[str],
    ) -> tuple[BadAt | None, int, Position | None]:
        """Events of `lines` the long way, a line at a time: (the first bad line, blank lines,
        where --strict stopped)."""
        # The loop below was the ingest's inner loop: names are bound locally on purpose.
        parse, check, blake2b = parser.parse, self.check, hashlib.blake2b
        request_no, fact_no, agent_no = out.requests.number, out.facts.number, out.agents.number
        ids, stamps = out.ids, out.ts
        requests, facts, agents = out.request_no, out.fact_no, out.agent_no
        durations, conditionals, partials, commands = (out.line[n] for n in LINE_FIELDS)
        first_bad: BadAt | None = None
        blank = 0
        for start, number, raw in lines:
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
                    first_bad = BadAt(number, start, exc.reason, str(exc))
                if self.strict:
                    return first_bad, blank, Position(start, number)
                continue
            ts, ua = rec.ts_us, rec.user_agent
            digest = blake2b(identity + start.to_bytes(8, "little"), digest_size=16)
            digest.update(
                f"{ts} {rec.method} {rec.target} {rec.status} {ua}".encode("utf-8", "surrogatepass")
            )
            ids.append(digest.digest())
            stamps.append(ts)
            requests.append(request_no((rec.method, rec.target, rec.status)))
            facts.append(fact_no((ts // DAY_US, rec.ip, rec.forwarded_for)))
            agents.append(agent_no(ua))
            durations.append(rec.duration_us)
            conditionals.append(bool(rec.conditional))
            partials.append(bool(rec.partial))
            commands.append(_command(rec.command))
        return first_bad, blank, None

    def close(self) -> None:
        self.enricher.close()


_worker: Worker | None = None
_handoff: Handoff | None = None


def init_process(cfg: Config, run_secret: bytes, started_us: int, strict: bool, handoff: Handoff) -> None:
    """Pool initializer: one Worker per process (inherited by fork, never pickled to disk)."""
    global _worker, _handoff
    # A chunk makes a few hundred thousand short-lived tuples and lists, and each collection of
    # the older generations walks the worker's caches (tens of thousands of rows): at Python's
    # default thresholds the cyclic collector took 5-8 % of a worker (bench/README.md, ingest).
    # Nothing here makes cycles in bulk; they are still collected, less often.
    gc.set_threshold(*GC_THRESHOLDS)
    _worker = Worker(cfg, run_secret, started_us, strict)
    _handoff = handoff


def run_in_process(chunk: Chunk, identity: bytes, parser: Parser, origin: str) -> ChunkResult:
    """`Worker.run` in a pool process; its rows go back through the `Handoff`."""
    assert _worker is not None, "init_process was not called"
    assert _handoff is not None, "init_process was not called"
    # Arrow's allocator keeps what a chunk freed, and the next chunk reuses it: handing it back to
    # the system after each chunk (`release_unused`) saved ~8 MiB of a worker's peak and cost ~1
    # CPU-s of page faults per million lines (bench/README.md, ingest).
    result = _worker.run(chunk, identity, parser, origin)
    if result.rows is not None:
        try:
            result.handed_off, result.rows = _handoff.put(result.rows), None
        except OSError as exc:  # /dev/shm full (a container's is 64 MiB): through the pipe instead
            log.warning(
                "ingest: cannot hand a table over in %s (%s); sending it through the pipe", _handoff.dir, exc
            )
    return result
