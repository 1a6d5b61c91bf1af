"""`pkgate ingest`: logs -> events in the store, exactly once, in parallel, with bounded memory.

The main process reads each log in chunks of whole lines and hands them to worker processes
(`work.py`: parse, classify, enrich, build events and their Arrow rows; an uncompressed file's
chunks by reference, cut here without being read, which the workers read themselves); at most a
few chunks are in flight (`IN_FLIGHT`), so memory does not grow with the log. Results come back
in order (their rows through `handoff.py`, not the pool's pipe); the main process inserts them in
large transactions (`batch.py`: the event id is the primary key; a batch that meets an event
already stored is read again from the last commit) and records how far it got after each commit
(`progress.py`).

Why not the spool: the spool exists to make an event durable before the gateway answers a
client; here the log itself is the durable record, and a store transaction per batch plus ids
derived from the log make the result exactly-once without a second copy of every event on disk
(and without funnelling all table building through the one loader process). The connection is
closed after a commit, so a running gateway's loader and `pkgate report` get turns.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import AsyncResult, Pool
from typing import Final

import msgspec

from pkgate.config import Config
from pkgate.errors import IngestError
from pkgate.events.model import now_us
from pkgate.ingest.batch import Again, StoreBatches
from pkgate.ingest.detect import SAMPLE_LINES, Parser, detect, make_parser
from pkgate.ingest.handoff import Handoff
from pkgate.ingest.progress import Position, ProgressFile
from pkgate.ingest.reader import Chunk, LogInput, open_log
from pkgate.ingest.work import ChunkResult, Worker, init_process, run_in_process
from pkgate.store.rows import Rows

__all__ = ["Options", "Runner", "Summary", "ingest"]

log = logging.getLogger("pkgate.ingest")

#: Log bytes a worker takes at a time (a chunk's fixed costs, its table and its trip between
#: processes, are then a small part of its lines' cost; fewer, larger inserts cost the main process
#: less: 4 MiB measured ~10 % faster than 2 MiB, 8 MiB no faster and heavier workers).
WORK_BYTES: Final = 4 << 20


#: Chunks in flight per worker when the workers read them from the file: enough that they keep
#: going while the main process commits a batch (0.3-0.6 s); 2 let them run dry, 4 measured 2-3 %
#: faster. Such a chunk in flight is its table in shared memory (~1 MB, in no process's RSS until
#: taken). Chunks read by the main process (compressed files, standard input) stay at 2: each one
#: waits in its memory until a worker takes it.
IN_FLIGHT: Final = 4


class Options(msgspec.Struct, kw_only=True):
    fmt: str | None = None  # None: detect per file
    name: str | None = None  # origin is "log:<name>"; None: ingest.name, else the format's name
    strict: bool = False
    jobs: int = 0  # worker processes; 0: one per CPU (1: everything in this process)
    from_start: bool = False  # ignore recorded progress (ids still prevent double counting)


class Summary(msgspec.Struct, kw_only=True):
    files: int = 0
    lines: int = 0  # lines read in this run
    skipped: int = 0  # lines before the recorded progress, not read again
    blank: int = 0  # blank and header lines
    events: int = 0  # events made
    stored: int = 0  # of them, new in the store
    rejected: dict[str, int] = msgspec.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        return self.events - self.stored

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


class _Done(msgspec.Struct, frozen=True):
    """Where the lines collected so far end in a log, and the run's summary at that point."""

    position: Position | None
    summary: Summary


Progress = Callable[[str, int, int | None, int], None]  # (file, raw bytes read, raw size, lines)


def _copy(summary: Summary) -> Summary:
    return msgspec.structs.replace(summary, rejected=dict(summary.rejected))


def _origin(opts: Options, cfg: Config, parser: Parser) -> str:
    name = opts.name or cfg.ingest.name or parser.name
    return f"log:{name}"


class Runner:
    """The pipeline of one `ingest` (or `tail`) run: workers, store batches, progress, summary."""

    def __init__(self, cfg: Config, opts: Options, progress: Progress | None) -> None:
        self.cfg = cfg
        self.opts = opts
        self.progress = progress
        self.summary = Summary()
        self.positions = ProgressFile(cfg.data_dir)
        self.store = StoreBatches(cfg.paths.store)
        #: Where this run last committed each log (by identity): where to read it again from.
        self.committed: dict[bytes, Position] = {}
        self._at_commit = Summary()
        self.jobs = opts.jobs or (os.cpu_count() or 1)
        self.started = now_us()
        self.secret = os.urandom(32)  # this run's key material for destroyed days: memory only
        self.pool: Pool | None = None
        self.handoff: Handoff | None = None
        self.local: Worker | None = None

    # -- workers --------------------------------------------------------------------------------
    def submit(self, chunk: Chunk, identity: bytes, parser: Parser, origin: str) -> Callable[[], ChunkResult]:
        """Start one chunk; the returned call waits for its result."""
        if self.jobs > 1 and self.pool is None:
            ctx = multiprocessing.get_context("fork")  # the run secret is inherited, never serialised
            self.handoff = Handoff()
            self.pool = ctx.Pool(
                self.jobs,
                initializer=init_process,
                initargs=(self.cfg, self.secret, self.started, self.opts.strict, self.handoff),
            )
        if self.pool is not None:
            job: AsyncResult[ChunkResult] = self.pool.apply_async(
                run_in_process, (chunk, identity, parser, origin)
            )
            return job.get
        if self.local is None:
            self.local = Worker(self.cfg, self.secret, self.started, self.opts.strict)
        result = self.local.run(chunk, identity, parser, origin)
        return lambda: result

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool.join()
        if self.handoff is not None:
            self.handoff.close()
        if self.local is not None:
            self.local.close()
        self.store.close()

    # -- one log --------------------------------------------------------------------------------
    def parser_for(self, log: LogInput) -> Parser:
        sample = [ln.decode("utf-8", "replace").rstrip("\r") for ln in log.first_lines(SAMPLE_LINES)]
        if self.opts.fmt:
            return make_parser(self.opts.fmt, sample, self.cfg.ingest.json_fields)
        try:
            return detect(sample, self.cfg.ingest.json_fields)
        except IngestError as exc:
            raise IngestError(f"{log.name}: {exc}") from None

    def one(self, path: str) -> None:
        identity: bytes | None = None  # once read: `Again` reads the log again from the last commit
        while True:
            log = open_log(path)
            try:
                if identity is None:
                    if log.size is None:
                        self.store.for_input_read_once()
                    parser, origin = self.prepare(log)
                    identity = log.identity
                else:
                    parser, origin = self.resume(log, identity)
                self.feed(log, parser, origin)
                return
            except Again:  # nothing since the last commit was stored: those lines are read again
                self.summary = _copy(self._at_commit)
            finally:
                log.close()

    def resume(self, log: LogInput, identity: bytes) -> tuple[Parser, str]:
        """The log's parser and origin, moved to where this run last committed it."""
        if log.identity != identity:
            raise IngestError(f"{log.name}: changed while it was ingested; run again")
        parser = self.parser_for(log)
        done = self.committed.get(identity)
        if done is not None:
            log.skip_to(done.offset, done.line)
        return parser, _origin(self.opts, self.cfg, parser)

    def prepare(self, log: LogInput) -> tuple[Parser, str]:
        """The log's parser and origin; moves past what earlier runs ingested."""
        parser = self.parser_for(log)
        done = None if self.opts.from_start else self.positions.get(log.identity)
        if done is not None and done.offset:
            log.skip_to(done.offset, done.line)
            self.summary.skipped += done.line - 1
            self.committed[log.identity] = done
        else:
            self.committed.pop(log.identity, None)
        self.summary.files += 1
        self._at_commit = _copy(self.summary)
        return parser, _origin(self.opts, self.cfg, parser)

    def feed(self, log: LogInput, parser: Parser, origin: str, chunks: Iterator[Chunk] | None = None) -> None:
        """Run the chunks through the workers in order; commit and record progress as they return.

        `chunks` None: the rest of a log that is not growing (reading it again gives the same
        bytes). Worker processes then read a plain file's chunks themselves, cut here without
        being read (`LogInput.references`); their lines are numbered here as results return.
        """
        by_reference = chunks is None and self.jobs > 1 and log.file is not None
        if chunks is None:
            chunks = log.references(WORK_BYTES) if by_reference else log.chunks(WORK_BYTES)
        window: deque[Callable[[], ChunkResult]] = deque()
        limit = (IN_FLIGHT if by_reference else 2) * self.jobs + 1
        # Where the last chunk collected ends, and the summary then: the progress a batch that
        # ends inside the next chunk records (None: where this feed began, recorded already).
        done = _Done(None, _copy(self.summary))
        first_line = log.line

        def collect() -> _Done:
            result = window.popleft()()
            if by_reference:
                result = result.counted_from(done.position.line if done.position else first_line)
            return self._collect(log, result, done)

        for chunk in chunks:
            window.append(self.submit(chunk, log.identity, parser, origin))
            while len(window) >= limit:
                done = collect()
        while window:
            done = collect()
        self._commit(log, done.position)
        self.store.close()  # `tail` waits between feeds: never hold the store while waiting

    def _collect(self, log: LogInput, result: ChunkResult, before: _Done) -> _Done:
        """Store one chunk's events, committing each batch as it fills; where the chunk ends."""
        s = self.summary
        s.lines += result.lines
        s.blank += result.blank
        s.events += result.events
        s.rejected = dict(Counter(s.rejected) + Counter(result.rejects))
        rows: Rows | None = result.rows
        if result.handed_off is not None and self.handoff is not None:
            rows = self.handoff.take(result.handed_off)
        position = Position(result.end_offset, result.end_line)
        while rows is not None:
            rows = self.store.add(rows)
            if not self.store.full:
                break
            if rows is None:  # the batch ends with this chunk
                self._commit(log, position)
            else:  # ... inside it: progress stays where the chunk before ended
                self._commit(log, before.position, before.summary)
        if self.progress is not None:  # a plain file's chunks may be cut ahead of what returned
            self.progress(log.name, result.end_offset if log.file else log.raw_position(), log.size, s.lines)
        if self.opts.strict and result.first_bad is not None:
            self._commit(log, position)
            bad = result.first_bad
            raise IngestError(f"{log.name}:{bad.line}: {bad.detail} (--strict stops at the first bad line)")
        return _Done(position, _copy(s))

    def _commit(self, log: LogInput, position: Position | None, at: Summary | None = None) -> None:
        """Commit the open batch and record `position` as done; `at`: the summary as of `position`,
        when the batch holds lines after it (read again after `Again`, but already stored)."""
        self.summary.stored += self.store.commit()
        if position is not None:
            self.positions.set(log.identity, position)
            self.committed[log.identity] = position
        self._at_commit = _copy(self.summary if at is None else at)
        self._at_commit.stored = self.summary.stored


def ingest(
    cfg: Config, paths: Sequence[str], opts: Options | None = None, progress: Progress | None = None
) -> Summary:
    """Ingest every log in `paths` (`-`: standard input); IngestError on the first unreadable one."""
    runner = Runner(cfg, opts or Options(), progress)
    begin = time.monotonic()
    try:
        for path in paths:
            runner.one(path)
    finally:
        runner.close()
        runner.summary.seconds = time.monotonic() - begin
    return runner.summary
