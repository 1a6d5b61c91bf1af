"""Pre-aggregated daily tables, so dashboard queries stay fast at 100M events, and retention.

Each rollup table holds the result of one `pkgate.store.aggregates` query for whole UTC days.
`rollup_state` remembers, per day, the event count and an XOR of event-id hashes at the time the
day was rolled up; `refresh_rollups` recomputes exactly the days whose count or checksum changed
(new events, late events, erasures), so it is incremental and needs no help from the loader.
The insights read rollups for the days listed in `rollup_state` and the raw events for the rest.

`apply_retention` folds old days into the rollups for good (`folded`) and deletes their events;
folded days are never recomputed, and events that arrive later for them are dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Final

import duckdb
import msgspec

from pkgate.store.aggregates import (
    DAY,
    behaviour_sql,
    breakdown_sql,
    daily_sql,
    session_projects_sql,
    source_days_sql,
    sources_sql,
    uniques_sql,
    version_country_sql,
)
from pkgate.store.folded import export_days
from pkgate.store.schema import PRUNE_AGENTS
from pkgate.store.transaction import transaction

#: rollup table -> the aggregate query that fills it.
ROLLUPS: Final[dict[str, Callable[[], str]]] = {
    "rollup_daily": daily_sql,
    "rollup_uniques": uniques_sql,
    "rollup_breakdown": breakdown_sql,
    "rollup_sources": sources_sql,
    "rollup_version_country": version_country_sql,
    "rollup_session_projects": session_projects_sql,
}
#: rollup table -> (the rollup it is derived from, query over a relation of that rollup's rows).
DERIVED: Final[dict[str, tuple[str, Callable[[str], str]]]] = {
    "rollup_behaviour": ("rollup_sources", behaviour_sql),
    "rollup_source_days": ("rollup_sources", source_days_sql),
}
#: Rows are stored in this order so that zone maps skip other days and, within a day, other projects.
_ORDER: Final = {"rollup_source_days": "day, source_id", "rollup_session_projects": "day, sk"}

_STATE: Final = """
CREATE TABLE IF NOT EXISTS rollup_state (
  day DATE PRIMARY KEY, events BIGINT NOT NULL, checksum UBIGINT, folded BOOLEAN NOT NULL,
  refreshed_at TIMESTAMPTZ NOT NULL
)"""
_CHECK: Final = f"SELECT {DAY} AS day, count(*) AS n, bit_xor(hash(id)) AS h FROM event_rows"  # noqa: S608
#: Days refreshed per transaction: bounds memory and lets readers in between.
CHUNK_DAYS: Final = 3


class RefreshResult(msgspec.Struct, frozen=True):
    refreshed: list[dt.date]
    dropped: list[dt.date]


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def has_rollups(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this store has rollup tables (a read-only connection cannot create them)."""
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'rollup_state' AND schema_name = 'main'"
    ).fetchone()
    return bool(row and row[0])


def _add_new_columns(con: duckdb.DuckDBPyConnection, table: str, shape: str, params: list[object]) -> bool:
    """Add the columns a newer aggregate query has and the stored table lacks; True if any."""
    want = con.execute(f"DESCRIBE SELECT * FROM ({shape})", params).fetchall()  # noqa: S608
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    missing = [(r[0], r[1]) for r in want if r[0] not in have]
    for name, kind in missing:
        con.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')
    return bool(missing)


def ensure_rollups(con: duckdb.DuckDBPyConnection) -> None:
    """Create the rollup tables (shaped by their queries, so they can never disagree).

    A table made by an older version gets the new columns, and every day that still has its
    events is recomputed by the next refresh (folded days keep NULL there: their events are gone).
    """
    from pkgate.store.layout import ensure_schema

    ensure_schema(con)
    have = {
        r[0]
        for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()
    }
    con.execute(_STATE)
    epoch = _midnight(dt.date(1970, 1, 1))
    # A rollup table new to this store is empty for every day already rolled up: recompute them.
    added = "rollup_state" in have and any(t not in have for t in (*ROLLUPS, *DERIVED))
    for table, sql in ROLLUPS.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM ({sql()}) LIMIT 0", [epoch, epoch])  # noqa: S608
        added |= _add_new_columns(con, table, sql(), [epoch, epoch])
    for table, (base, derive) in DERIVED.items():
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS {derive(f'SELECT * FROM {base}')} LIMIT 0")  # noqa: S608
        added |= _add_new_columns(con, table, derive(f"SELECT * FROM {base}"), [])  # noqa: S608
    if added:
        con.execute("DELETE FROM rollup_state WHERE NOT folded")


def _blocks(days: Sequence[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days -> [first, last] runs of consecutive days, at most CHUNK_DAYS long."""
    out: list[tuple[dt.date, dt.date]] = []
    for d in sorted(days):
        if out and (d - out[-1][1]).days == 1 and (d - out[-1][0]).days < CHUNK_DAYS:
            out[-1] = (out[-1][0], d)
        else:
            out.append((d, d))
    return out


def _rebuild(con: duckdb.DuckDBPyConnection, first: dt.date, last: dt.date) -> None:
    """Recompute days first..last from the events, in one transaction."""
    start, end = _midnight(first), _midnight(last + dt.timedelta(days=1))
    with transaction(con):
        for table in (*ROLLUPS, *DERIVED):
            con.execute(f"DELETE FROM {table} WHERE day BETWEEN ? AND ?", [first, last])  # noqa: S608
        for table, sql in ROLLUPS.items():
            order = _ORDER.get(table, "day, project")
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM ({sql()}) ORDER BY {order}", [start, end])  # noqa: S608
        for table, (base, derive) in DERIVED.items():
            rel = f"SELECT * FROM {base} WHERE day BETWEEN ? AND ?"  # noqa: S608
            order = _ORDER.get(table, "day, project")
            con.execute(
                f"INSERT INTO {table} BY NAME SELECT * FROM ({derive(rel)}) ORDER BY {order}",  # noqa: S608
                [first, last],
            )
        con.execute("DELETE FROM rollup_state WHERE day BETWEEN ? AND ?", [first, last])
        con.execute(
            f"INSERT INTO rollup_state SELECT day, n, h, false, now() FROM ({_CHECK} "  # noqa: S608
            "WHERE ts >= ? AND ts < ? GROUP BY 1)",
            [start, end],
        )


def refresh_rollups(con: duckdb.DuckDBPyConnection) -> RefreshResult:
    """Bring the rollups up to date with the events; only changed days are recomputed.

    Cost: one scan of `events.ts`/`id` to find changed days, then the aggregates of those days.
    """
    ensure_rollups(con)
    current = {d: (n, h) for d, n, h in con.execute(f"{_CHECK} GROUP BY 1").fetchall()}
    state = {
        d: (n, h, folded)
        for d, n, h, folded in con.execute(
            "SELECT day, events, checksum, folded FROM rollup_state"
        ).fetchall()
    }
    changed = [
        d for d, (n, h) in current.items() if d not in state or (not state[d][2] and state[d][:2] != (n, h))
    ]
    gone = [d for d, (_, _, folded) in state.items() if not folded and d not in current]
    for first, last in _blocks(changed):
        _rebuild(con, first, last)
    for first, last in _blocks(gone):
        with transaction(con):
            for table in (*ROLLUPS, *DERIVED, "rollup_state"):
                con.execute(f"DELETE FROM {table} WHERE day BETWEEN ? AND ?", [first, last])  # noqa: S608
    if changed or gone:
        con.execute("CHECKPOINT")  # in this context, not at close (docs/reliability.md)
    return RefreshResult(sorted(changed), sorted(gone))


def apply_retention(con: duckdb.DuckDBPyConnection, days: int, now: dt.datetime | None = None) -> int:
    """Fold events older than `days` full UTC days into the rollups, delete them; return how many.

    `days <= 0` keeps everything. Today and the `days` days before it keep their events.
    """
    if days <= 0:
        return 0
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    cutoff = today - dt.timedelta(days=days)
    refresh_rollups(con)
    folding = [
        r[0]
        for r in con.execute("SELECT day FROM rollup_state WHERE day < ? AND NOT folded", [cutoff]).fetchall()
    ]
    export_days(con, folding)  # a rebuild needs them once the events are gone (store.folded)
    with transaction(con):
        con.execute("UPDATE rollup_state SET folded = true WHERE day < ? AND NOT folded", [cutoff])
        row = con.execute("DELETE FROM event_rows WHERE ts < ? RETURNING 1", [_midnight(cutoff)]).fetchall()
        con.execute(PRUNE_AGENTS)
    con.execute("CHECKPOINT")
    return len(row)


def forget_sources(con: duckdb.DuckDBPyConnection, source_ids: Sequence[str]) -> int:
    """Erasure for folded days: drop the per-source rollup rows of these source (or network) ids.

    Days whose events still exist are recomputed by the next refresh anyway.
    """
    if not has_rollups(con):
        return 0
    ids = list(dict.fromkeys(source_ids))
    with transaction(con):
        rows = con.execute(
            "DELETE FROM rollup_sources WHERE source_id IN (SELECT unnest(?::VARCHAR[])) "
            "OR network_id IN (SELECT unnest(?::VARCHAR[])) RETURNING source_id",
            [ids, ids],
        ).fetchall()
        gone = list({r[0] for r in rows} | set(ids))
        con.execute("DELETE FROM rollup_source_days WHERE source_id IN (SELECT unnest(?::VARCHAR[]))", [gone])
    return len(rows)
