"""The alert outbox: each alert proposed once per webhook, its delivery attempts recorded.

Rules are evaluated again and again (every `alerts.interval`); the primary key (alert key, webhook)
makes a repeated proposal a no-op, so an alert is sent once. A row is `pending` until a webhook
answers 2xx (`sent`) or the attempts run out (`failed`); `next_attempt` implements the backoff
without any thread sleeping, and `sent_at` the hourly rate limit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final, NamedTuple

import duckdb

__all__ = ["Delivery", "due", "ensure_outbox", "propose", "record", "sent_since"]

_TABLE: Final = """
CREATE TABLE IF NOT EXISTS alert_outbox (
  key VARCHAR NOT NULL, webhook VARCHAR NOT NULL, kind VARCHAR NOT NULL, project VARCHAR, body VARCHAR NOT NULL,
  created TIMESTAMPTZ NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL, next_attempt TIMESTAMPTZ NOT NULL,
  http_status INTEGER, last_error VARCHAR, sent_at TIMESTAMPTZ,
  PRIMARY KEY (key, webhook)
)"""


class Delivery(NamedTuple):
    key: str
    webhook: str
    body: str
    attempts: int


def ensure_outbox(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_TABLE)


def propose(
    con: duckdb.DuckDBPyConnection,
    key: str,
    webhook: str,
    kind: str,
    project: str,
    body: str,
    now: dt.datetime,
) -> bool:
    """Queue an alert for a webhook unless it was ever queued; True when it is new."""
    ensure_outbox(con)
    row = con.execute(
        "INSERT INTO alert_outbox VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, NULL, NULL, NULL) "
        "ON CONFLICT DO NOTHING RETURNING key",
        [key, webhook, kind, project, body, now, now],
    ).fetchone()
    return row is not None


def due(con: duckdb.DuckDBPyConnection, now: dt.datetime, limit: int) -> list[Delivery]:
    """Pending deliveries whose next attempt is due, oldest first."""
    ensure_outbox(con)
    rows = con.execute(
        "SELECT key, webhook, body, attempts FROM alert_outbox WHERE status = 'pending' AND next_attempt <= ? "
        "ORDER BY created, key, webhook LIMIT ?",
        [now, limit],
    ).fetchall()
    return [Delivery(*r) for r in rows]


def sent_since(con: duckdb.DuckDBPyConnection, webhook: str, since: dt.datetime) -> int:
    row = con.execute(
        "SELECT count(*) FROM alert_outbox WHERE webhook = ? AND sent_at >= ?", [webhook, since]
    ).fetchone()
    return int(row[0]) if row else 0


def record(
    con: duckdb.DuckDBPyConnection,
    d: Delivery,
    now: dt.datetime,
    *,
    status: str,
    http_status: int | None,
    error: str | None,
    next_attempt: dt.datetime | None = None,
) -> None:
    """One attempt's outcome: `sent`, `failed` (given up) or `pending` again at `next_attempt`."""
    params: list[Any] = [status, d.attempts + 1, next_attempt or now, http_status, error]
    con.execute(
        "UPDATE alert_outbox SET status = ?, attempts = ?, next_attempt = ?, http_status = ?, last_error = ?, "
        "sent_at = CASE WHEN ? = 'sent' THEN ?::TIMESTAMPTZ END WHERE key = ? AND webhook = ?",
        [*params, status, now, d.key, d.webhook],
    )
