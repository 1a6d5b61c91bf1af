"""The ingest's store side: Arrow rows into DuckDB in large transactions, each all or nothing.

Two choices make it about twice as fast as a loader-style batch (bench/README.md, ingest):

- **Large batches.** A transaction of whole row groups has them written straight into the file
  (DuckDB's optimistic writes), instead of through the WAL and a checkpoint that grew with the
  table. The chunks' tables are inserted a whole row group at a time (they stay where the workers
  put them until then; DuckDB holds each one inserted until the commit anyway): an insert per
  chunk cost a third more (3.4 against 2.5 µs a row), and one insert per batch at its commit kept
  the workers waiting. Ingest's row groups are a quarter of DuckDB's default: less memory, and
  faster.
- **No conflict check.** The primary key's `ON CONFLICT` check is a third of a checked insert's
  cost (6.6 against 4.2-4.5 µs a row), and a log's events are new unless it was ingested before.
  When DuckDB refuses a batch for an event it already has, the batch is rolled back and `Again`
  asks the caller to read the log again from the last commit, with the check on from then on. Since ids come from a log's identity and line
  offsets, the events already stored are those of a prefix: the check costs one batch, once.

A batch refused for memory (DuckDB's memory is capped while ingesting) is done again the same way,
without the cap. Input that cannot be read again (standard input) runs with the check on and no cap.

A batch is exactly `BATCH_ROWS` rows (the rows of a table that do not fit open the next one), so
every committed row group is full, and the connection is checkpointed before it is closed. Partial
row groups made every checkpoint rewrite them (0.5-0.9 s each during a run, against 0.01-0.1 s;
2.1 s and 719 MiB after a 1M-line ingest), and without checkpoints each reopen replayed the WAL
of everything ingested so far, rebuilding its index entries: a cost that grew with the log
(bench/README.md, ingest).
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa

from pkgate.errors import IngestError
from pkgate.store.layout import ensure_schema
from pkgate.store.loader import checkpoint, connect
from pkgate.store.rows import Rows, insert_rows

__all__ = ["BATCH_ROWS", "ROW_GROUP_ROWS", "Again", "StoreBatches"]

log = logging.getLogger("pkgate.ingest")

#: Rows in one row group of what ingest appends (DuckDB's default is 122,880). The open row group
#: of a transaction is held uncompressed in memory, about 0.9 KB per row (50 columns of 16-byte
#: values), and smaller ones are also cheaper to append: 14-16 -> 10-11 CPU-µs per line of the main
#: process, and a smaller file (bench/README.md, ingest).
ROW_GROUP_ROWS: Final = 30_720
#: Rows in one store transaction: whole row groups, so DuckDB writes them straight to the file.
#: DuckDB also keeps every Arrow table inserted in a transaction alive until its commit.
BATCH_ROWS: Final = 2 * ROW_GROUP_ROWS
#: How long one store connection is held across batches before it is closed (and reopened).
HOLD_SECONDS: Final = 2.0
#: DuckDB's memory while ingesting, beyond its primary-key index (its default is 80 % of RAM, which it
#: fills with cached blocks: a 1M-line log peaked at 676 MiB, 250-253 MiB with this). The index
#: must fit in memory whole, so the limit grows with the store: `INDEX_BYTES` per event in it (the
#: index of a million events measured 43 MiB). Should an insert still fail for memory, that batch is
#: done again without a limit, which then holds for the rest of the run.
MEMORY_LIMIT: Final = 48 << 20
INDEX_BYTES: Final = 48
#: Agent ids remembered as inserted (a hostile log may name a new agent on every line).
AGENTS_KNOWN: Final = 65536


class Again(Exception):
    """The open batch was rolled back for a reason now dealt with: read the log again from the last
    commit (the batch's events were not stored, and progress was not advanced)."""


class StoreBatches:
    """`add` rows, `commit` them; `Again` from either when the batch must be read again."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.rows = 0  # in the open batch
        self.skip_stored = False  # the conflict check: on once a batch met an event already stored
        self.capped = True  # DuckDB's memory limited (`MEMORY_LIMIT`); off once a batch needed more
        self._events = 0  # in the store, for the limit: counted when connecting, then added to
        self._stored = 0  # of the open batch's rows, how many were new
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened = 0.0
        self._open_batch = False
        self._held: list[Rows] = []  # the open batch's rows not inserted yet
        self._inserted = 0  # the open batch's rows inserted
        #: Agent ids inserted by committed batches on this connection (bounded: it only saves
        #: work), and by the open batch.
        self._agents: set[int] = set()
        self._pending: set[int] = set()

    def for_input_read_once(self) -> None:
        """For input that cannot be read again: nothing may need to be."""
        self.skip_stored, self.capped = True, False

    @property
    def full(self) -> bool:
        """The open batch holds `BATCH_ROWS` rows: commit it before adding more."""
        return self.rows >= BATCH_ROWS

    def add(self, rows: Rows | None) -> Rows | None:
        """Add `rows`' events to the open batch, as many as fit in `BATCH_ROWS`, and their agents;
        the rest (to add once the batch is committed), or None."""
        if rows is None or not rows.events.num_rows:
            return None
        room = BATCH_ROWS - self.rows
        if room <= 0:
            return rows
        events = rows.events
        rest = Rows(events.slice(room), rows.agents) if events.num_rows > room else None
        if rest is not None:
            events = events.slice(0, room)
        self._held.append(Rows(events, self._new_agents(rows.agents)))
        self.rows += events.num_rows
        if self.rows - self._inserted >= ROW_GROUP_ROWS:
            self._insert(whole=True)
        return rest

    def _insert(self, *, whole: bool) -> None:
        """The rows held, in one insert: their whole row groups (the rest stays held), or all."""
        held, self._held = self._held, []
        events = pa.concat_tables([r.events for r in held], promote_options="permissive")
        agents = pa.concat_tables([r.agents for r in held])
        count = events.num_rows - events.num_rows % ROW_GROUP_ROWS if whole else events.num_rows
        if count < events.num_rows:
            self._held = [Rows(events.slice(count), agents.slice(0, 0))]
            events = events.slice(0, count)
        self._inserted += count
        try:
            con = self._connection()
            if not self._open_batch:
                con.begin()
                self._open_batch = True
            self._stored += insert_rows(con, Rows(events, agents), skip_stored=self.skip_stored)
        except duckdb.Error as exc:
            self._failed(exc)

    def _new_agents(self, agents: pa.Table) -> pa.Table:
        """`agents` but those this run has inserted already (every chunk names its agents, and a
        log has few), noted as inserted by the open batch."""
        ids = agents.column("agent").to_pylist()
        known, pending = self._agents, self._pending
        new = [i not in known and i not in pending for i in ids]
        pending.update(ids)
        return agents if all(new) else agents.filter(pa.array(new, pa.bool_()))

    def commit(self) -> int:
        """Store the open batch; the number of its rows that were new."""
        if self._held:
            self._insert(whole=False)
        stored = self._stored
        if self._open_batch:
            try:
                con = self._connection()
                con.commit()
                self._events += stored
                self._limit(con)
                if len(self._agents) + len(self._pending) > AGENTS_KNOWN:
                    self._agents.clear()
                self._agents |= self._pending
            except duckdb.Error as exc:
                self._failed(exc)
        self._open_batch, self.rows, self._stored, self._inserted = False, 0, 0, 0
        self._pending.clear()
        if time.monotonic() - self._opened > HOLD_SECONDS:
            self.close()
        return stored

    def close(self) -> None:
        """Checkpoint (nothing is left for the next connection to replay) and close."""
        if self._con is not None and not self._open_batch:
            try:
                checkpoint(self._con)
            except duckdb.Error as exc:  # the batches are committed (in the WAL): not lost
                log.warning("ingest: cannot checkpoint %s: %s", self.db_path, str(exc).splitlines()[0][:200])
        self._release()

    def _release(self) -> None:
        # Another writer may have the store before the next connection (the gateway's loader
        # runs retention, which drops agents no event names): agents are inserted again.
        self._agents.clear()
        if self._con is not None:
            con, self._con = self._con, None
            with contextlib.suppress(duckdb.Error):
                con.close()

    def _failed(self, error: duckdb.Error) -> None:
        """Roll the batch back; deal with the cause and raise `Again`, or raise IngestError."""
        self._open_batch, self.rows, self._stored, self._held, self._inserted = False, 0, 0, [], 0
        self._pending.clear()  # rolled back with it
        if self._con is not None:
            with contextlib.suppress(duckdb.Error):
                self._con.rollback()
        if isinstance(error, duckdb.ConstraintException) and not self.skip_stored:
            self.skip_stored = True  # an event already stored: this log was ingested before
            raise Again from None
        if self.capped:
            # Out of memory surfaces as an aborted transaction as often as by its own name:
            # whatever failed, one more try without the limit.
            log.warning(
                "ingest: an insert failed under DuckDB's %d MiB memory limit (%s); going on without a limit",
                self._cap() >> 20,
                str(error).splitlines()[0][:200],
            )
            self.capped = False
            self._release()
            raise Again from None
        self._release()
        raise IngestError(f"{self.db_path}: cannot store events: {error}") from None

    def _connection(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = connect(self.db_path, row_group_size=ROW_GROUP_ROWS)
            # The workers have the CPUs; no progress bar drawn by DuckDB on a long insert.
            con.execute("SET threads = 1")
            con.execute("SET enable_progress_bar = false")
            con.execute("SET preserve_insertion_order = false")
            ensure_schema(con)
            if self.capped:
                row = con.execute("SELECT count(*) FROM event_rows").fetchone()
                self._events = int(row[0]) if row else 0
                self._limit(con)
            self._con, self._opened = con, time.monotonic()
        return self._con

    def _cap(self) -> int:
        return MEMORY_LIMIT + INDEX_BYTES * self._events

    def _limit(self, con: duckdb.DuckDBPyConnection) -> None:
        """Hold DuckDB to `MEMORY_LIMIT` beyond the index of the events now stored."""
        if self.capped:
            con.execute(f"SET memory_limit = '{self._cap() >> 10}KiB'")
