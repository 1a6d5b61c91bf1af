"""`pkgate ingest`: logs -> events in the store, exactly once, in parallel, with bounded memory.

The main process reads each log in chunks of whole lines and hands them to worker processes
(`work.py`: parse, classify, enrich, build events and their Arrow rows); at most a few chunks are
in flight, so memory does not grow with the log. Results come back in order; the main process
inserts them through the loader's insert path (`insert_table`: the event id is the primary key,
duplicates are ignored) and then records how far it got (`progress.py`).

Why not the spool: the spool exists to make an event durable before the gateway answers a
client; here the log itself is the durable record, and a store transaction per batch plus ids
derived from the log make the result exactly-once without a second copy of every event on disk
(and without funnelling all table building through the one loader process). The connection is
opened per batch, like the loader's, so a running gateway's loader and `pkgate report` get turns.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Final

import duckdb
import msgspec
import pyarrow as pa

from pkgate.config import Config
from pkgate.errors import IngestError
from pkgate.events.model import now_us
from pkgate.ingest.detect import SAMPLE_LINES, Parser, detect, make_parser
from pkgate.ingest.progress import Position, ProgressFile
from pkgate.ingest.reader import Chunk, LogInput, open_log
from pkgate.ingest.work import ChunkResult, Worker, init_process, run_in_process
from pkgate.store.loader import connect, insert_table
from pkgate.store.schema import ensure_schema

__all__ = ["Options", "Runner", "Summary", "ingest"]

log = logging.getLogger("pkgate.ingest")

#: Rows gathered before one store transaction: bounded memory (about 20 MB of Arrow rows).
BATCH_ROWS: Final = 20_000
#: Log bytes a worker takes at a time (a chunk's fixed costs, its table and its trip between
#: processes, are then a small part of its lines' cost).
WORK_BYTES: Final = 1 << 20
#: How long one store connection is held across batches before it is closed (and reopened).
HOLD_SECONDS: Final = 2.0
#: DuckDB's memory while ingesting (its default is 80 % of RAM, which it fills with buffers: a 1M-line
#: log peaked at 676 MiB, 361 MiB with this, at the same speed). A store whose primary-key index
#: outgrows it makes an insert fail for memory; that batch is then retried without the limit, which
#: holds for the rest of the run.
MEMORY_LIMIT: Final = "160MB"


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


Progress = Callable[[str, int, int | None, int], None]  # (file, raw bytes read, raw size, lines)


class _Store:
    """Inserts Arrow rows as they come and commits them in batches of about `BATCH_ROWS`.

    Rows go in without the primary key's conflict check, most of an insert's cost (bench/README.md,
    ingest): a log's events are new unless it was ingested before, and then DuckDB refuses the
    batch, which is rolled back and done again with the check (and the check stays on for the rest
    of the run). So a batch's tables are kept until its commit. The connection is kept across
    batches for up to `HOLD_SECONDS` (opening one costs about as much as inserting 4,000 rows),
    then closed so that a running gateway's loader and `pkgate report` get their turn at the file.
    """

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.pending: list[pa.Table] = []
        self.rows = 0
        self.skip_stored = False  # the conflict check, once a batch met an event already stored
        self._stored = 0  # of the pending rows inserted so far, how many were new
        self._in_batch = False  # a transaction is open and holds every pending table
        self._error: duckdb.Error | None = None  # why the open batch was rolled back
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened = 0.0
        self._limited: str | None = MEMORY_LIMIT  # None once a batch needed more

    def add(self, table: pa.Table | None) -> None:
        if table is None or not table.num_rows:
            return
        self.pending.append(table)
        self.rows += table.num_rows
        if self._error is not None:
            return  # `flush` does the whole batch again
        try:
            con = self._connection()
            if not self._in_batch:
                con.begin()
                self._in_batch = True
            self._stored += insert_table(con, table, skip_stored=self.skip_stored)
        except duckdb.Error as exc:
            self._rollback()
            self._error = exc

    def flush(self) -> int:
        """Commit the pending rows; the number that were new. IngestError if they cannot be stored:
        then nothing of them is, and progress is not advanced (a rerun continues here)."""
        if not self.pending:
            return 0
        error, stored = self._error, self._stored
        if error is None:
            try:
                self._connection().commit()
            except duckdb.Error as exc:
                self._rollback()
                error = exc
        while error is not None:
            self._recover_from(error)
            try:
                stored = self._all_again()
                error = None
            except duckdb.Error as exc:
                self._rollback()
                error = exc
        self.pending, self.rows, self._stored, self._in_batch, self._error = [], 0, 0, False, None
        if time.monotonic() - self._opened > HOLD_SECONDS:
            self.close()
        return stored

    def _recover_from(self, error: duckdb.Error) -> None:
        """Change what made the batch fail, or raise IngestError."""
        if isinstance(error, duckdb.ConstraintException) and not self.skip_stored:
            self.skip_stored = True  # an event already stored: this log was ingested before
            return
        if self._limited is not None:
            # Out of memory surfaces as an aborted transaction as often as by its own name:
            # whatever failed, one more try without the limit.
            log.warning(
                "ingest: an insert failed under DuckDB's %s memory limit (%s); going on without a limit",
                self._limited,
                str(error).splitlines()[0][:200],
            )
            self._limited = None
            if self._con is not None:
                with contextlib.suppress(duckdb.Error):
                    self._con.execute("RESET memory_limit")
            return
        self.close()
        raise IngestError(f"{self.db_path}: cannot store events: {error}") from None

    def _all_again(self) -> int:
        con = self._connection()
        con.begin()
        stored = sum(insert_table(con, t, skip_stored=self.skip_stored) for t in self.pending)
        con.commit()
        return stored

    def _rollback(self) -> None:
        self._in_batch = False
        if self._con is not None:
            with contextlib.suppress(duckdb.Error):
                self._con.rollback()

    def close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            with contextlib.suppress(duckdb.Error):
                con.close()

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = connect(self.db_path)
            # The workers have the CPUs; no progress bar drawn by DuckDB on a long insert.
            con.execute("SET threads = 1")
            con.execute("SET enable_progress_bar = false")
            con.execute("SET preserve_insertion_order = false")
            if self._limited is not None:
                con.execute(f"SET memory_limit = '{self._limited}'")
            ensure_schema(con)
            self._con, self._opened = con, time.monotonic()
        return self._con


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
        self.store = _Store(cfg.paths.store)
        self.jobs = opts.jobs or (os.cpu_count() or 1)
        self.started = now_us()
        self.secret = os.urandom(32)  # this run's key material for destroyed days: memory only
        self.pool: Pool | None = None
        self.local: Worker | None = None

    # -- workers --------------------------------------------------------------------------------
    def submit(self, chunk: Chunk, identity: bytes, parser: Parser, origin: str) -> Callable[[], ChunkResult]:
        """Start one chunk; the returned call waits for its result."""
        if self.jobs > 1 and self.pool is None:
            ctx = multiprocessing.get_context("fork")  # the run secret is inherited, never serialised
            self.pool = ctx.Pool(
                self.jobs,
                initializer=init_process,
                initargs=(self.cfg, self.secret, self.started, self.opts.strict),
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
        log = open_log(path)
        try:
            self._one(log)
        finally:
            log.close()

    def _one(self, log: LogInput) -> None:
        parser, origin = self.prepare(log)
        self.feed(log, parser, origin, log.chunks(WORK_BYTES))

    def prepare(self, log: LogInput) -> tuple[Parser, str]:
        """The log's parser and origin; moves past what earlier runs ingested."""
        parser = self.parser_for(log)
        done = None if self.opts.from_start else self.positions.get(log.identity)
        if done is not None and done.offset:
            log.skip_to(done.offset, done.line)
            self.summary.skipped += done.line - 1
        self.summary.files += 1
        return parser, _origin(self.opts, self.cfg, parser)

    def feed(self, log: LogInput, parser: Parser, origin: str, chunks: Iterator[Chunk]) -> None:
        """Run the chunks through the workers in order; commit and record progress as they return."""
        window: deque[Callable[[], ChunkResult]] = deque()
        limit = 2 * self.jobs + 1
        position: Position | None = None
        for chunk in chunks:
            window.append(self.submit(chunk, log.identity, parser, origin))
            while len(window) >= limit:
                position = self._collect(log, window.popleft()(), position)
        while window:
            position = self._collect(log, window.popleft()(), position)
        self._commit(log, position)
        self.store.close()  # `tail` waits between feeds: never hold the store while waiting

    def _collect(self, log: LogInput, result: ChunkResult, position: Position | None) -> Position:
        s = self.summary
        s.lines += result.lines
        s.blank += result.blank
        s.events += result.events
        s.rejected = dict(Counter(s.rejected) + Counter(result.rejects))
        self.store.add(result.table)
        position = Position(result.end_offset, result.end_line)
        if self.progress is not None:
            self.progress(log.name, log.raw_position(), log.size, s.lines)
        if self.opts.strict and result.first_bad is not None:
            self._commit(log, position)
            bad = result.first_bad
            raise IngestError(f"{log.name}:{bad.line}: {bad.detail} (--strict stops at the first bad line)")
        if self.store.rows >= BATCH_ROWS:
            self._commit(log, position)
        return position

    def _commit(self, log: LogInput, position: Position | None) -> None:
        self.summary.stored += self.store.flush()
        if position is not None:
            self.positions.set(log.identity, position)


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
