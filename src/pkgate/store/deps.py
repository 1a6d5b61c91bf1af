"""The Requires-Dist cache: one row per (project, version) that clients downloaded.

Filled off the request path by `refresh_requires` (the gateway's periodic upkeep and its drain at
stop): it lists the downloaded versions without a row, fetches their metadata with the store
closed (`pkgate.enrich.metadata`), then records the answers. Failures are recorded too, and
retried after `RETRY_AFTER`. The dependency insights (`pkgate.insights.deps`) join it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Final, Protocol

import duckdb

from pkgate.enrich.metadata import Fetched

__all__ = ["REQUIRES_TABLE", "ensure_requires", "pending_requires", "record_requires", "refresh_requires"]

REQUIRES_TABLE: Final = """
CREATE TABLE IF NOT EXISTS dist_requires (
  project VARCHAR NOT NULL, version VARCHAR NOT NULL, filename VARCHAR, status VARCHAR NOT NULL,
  requires VARCHAR[] NOT NULL, fetched_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (project, version)
)"""
#: A failed fetch is tried again after this long.
RETRY_AFTER: Final = dt.timedelta(days=1)


class Fetcher(Protocol):
    def fetch(self, upstream: str | None, project: str, filename: str) -> Fetched: ...


def ensure_requires(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(REQUIRES_TABLE)


def pending_requires(
    con: duckdb.DuckDBPyConnection, limit: int, now: dt.datetime | None = None
) -> list[tuple[str, str, str, str | None]]:
    """(project, version, filename, upstream) of downloaded Python versions without metadata yet,
    most recently downloaded first; a wheel is preferred to an sdist."""
    ensure_requires(con)
    retry = (now or dt.datetime.now(dt.UTC)) - RETRY_AFTER
    rows = con.execute(
        """SELECT e.project, e.version,
             arg_min(e.filename, CASE WHEN e.filename LIKE '%.whl' THEN 0 ELSE 1 END),
             arg_max(e.upstream, e.ts)
           FROM events e
           LEFT JOIN dist_requires r ON r.project = e.project AND r.version = e.version
           WHERE e.kind IN ('file', 'metadata') AND e.method = 'GET'
             AND (e.status = 200 OR e.status BETWEEN 300 AND 399)
             AND coalesce(e.ecosystem, 'python') = 'python' AND e.project IS NOT NULL
             AND e.version IS NOT NULL AND e.filename IS NOT NULL
             AND (r.project IS NULL OR (r.status = 'error' AND r.fetched_at < ?))
           GROUP BY e.project, e.version ORDER BY max(e.ts) DESC, e.project, e.version LIMIT ?""",
        [retry, limit],
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def record_requires(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, Fetched]], now: dt.datetime | None = None
) -> None:
    ensure_requires(con)
    at = now or dt.datetime.now(dt.UTC)
    con.executemany(
        "INSERT OR REPLACE INTO dist_requires VALUES (?, ?, ?, ?, ?, ?)",
        [[p, v, f, got.status, list(got.requires), at] for p, v, f, got in rows],
    )


def refresh_requires(
    connect: Callable[[], duckdb.DuckDBPyConnection],
    fetcher: Fetcher,
    limit: int = 200,
    budget_s: float = 30.0,
) -> int:
    """Fetch the metadata of up to `limit` pending versions within about `budget_s` seconds, with
    the store closed meanwhile (the loader keeps loading); how many were recorded."""
    con = connect()
    try:
        todo = pending_requires(con, limit)
    finally:
        con.close()
    if not todo:
        return 0
    deadline = time.monotonic() + budget_s
    done: list[tuple[str, str, str, Fetched]] = []
    for project, version, filename, upstream in todo:
        if time.monotonic() > deadline:
            break
        done.append((project, version, filename, fetcher.fetch(upstream, project, filename)))
    con = connect()
    try:
        record_requires(con, done)
    finally:
        con.close()
    return len(done)
