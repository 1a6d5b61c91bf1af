"""Public stats of one project: what may be shown to anyone, private by construction.

A *release* covers the last complete ISO week and the last complete calendar month before `today`
(closed periods, so a release never changes once made: it is computed once and kept, see
`pkgate.web.public`). It holds, per period, the unique sources (HyperLogLog of the `public` sketch
level), the installs, and the installs by version, Python, OS and country — and nothing else: no
source id, network id, organisation, ASN or cloud ever enters it (the queries below select none).

- **Automation excluded** (unless `public.include_automation`): source-days whose behaviour class
  (`pkgate.store.classes`, the default thresholds) is `mirror`, `ci` or `polling`, and events whose
  User-Agent is a mirror or a bot, carries a CI flag, or comes from a CI provider's range.
- **Bounded contribution**: a source-day adds at most `public.max_installs` installs (its first
  ones); this bound is the sensitivity of every install count.
- **Noise** (`public.epsilon` > 0): every number gets Laplace noise from OpenDP (`pkgate.insights.noise`),
  the budget split evenly over the release's numbers.
- **Suppression**: a cell below `k` is withheld; if the withheld cells of a table add up to less
  than `k` (so total - shown would reveal them), the smallest shown cells are withheld too until
  they do. Suppression happens after noise (post-processing: it costs no budget).

Definitions and the privacy argument: docs/public.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Final

import duckdb
import msgspec

from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import CI_CLOUDS, DAY, DIMENSIONS, sessions_sql, sources_sql
from pkgate.store.sketches import PUBLIC_LEVEL, estimate_sql

__all__ = [
    "AUTOMATED_CLASSES",
    "BREAKDOWNS",
    "Cell",
    "Period",
    "Release",
    "Settings",
    "complete_periods",
    "release",
    "suppress",
]

#: Behaviour classes left out of public numbers (mirrors, CI, deploys polling on a schedule).
AUTOMATED_CLASSES: Final = ("mirror", "ci", "polling")
#: User-Agent categories left out per event.
AUTOMATED_UA: Final = ("mirror", "bot")
#: Public breakdown name -> the store's dimension expression (`pkgate.store.aggregates.DIMENSIONS`).
BREAKDOWNS: Final = {"version": "version", "python": "python", "os": "system", "country": "country"}
#: Numbers drawn per period (unique sources, installs, one per breakdown): the budget's divisor.
NUMBERS_PER_PERIOD: Final = 2 + len(BREAKDOWNS)

Noise = Callable[[list[int], int], list[int]]  # (values, sensitivity) -> noisy values


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The `[public]` config as this module needs it (the config module is a layer above)."""

    k: int = 10
    max_installs: int = 5
    include_automation: bool = False


class Cell(msgspec.Struct, frozen=True):
    value: str  # "unknown" when the client did not say
    installs: int


class Period(msgspec.Struct, frozen=True, kw_only=True):
    """One closed period's numbers; None = withheld (below k)."""

    start: dt.date
    end: dt.date  # inclusive
    unique_sources: int | None
    installs: int | None
    by: dict[str, list[Cell]]
    withheld: dict[str, int]  # breakdown -> how many cells were withheld (not their sum)


class Release(msgspec.Struct, frozen=True, kw_only=True):
    project: str
    made: dt.date
    k: int
    automation_excluded: bool
    noise: dict[str, Any] | None
    week: Period
    month: Period


#: Days a period must have been over before it is released: late events (a loader catching up, a
#: fleet's spool after an outage) land first, because a release is never made again.
GRACE_DAYS: Final = 1


def complete_periods(today: dt.date) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """The last ISO week and calendar month that ended at least `GRACE_DAYS` before `today`
    (first day, last day)."""
    today = today - dt.timedelta(days=GRACE_DAYS)
    monday = today - dt.timedelta(days=today.weekday())
    week = (monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
    first = today.replace(day=1)
    last_month_end = first - dt.timedelta(days=1)
    return week, (last_month_end.replace(day=1), last_month_end)


def _midnight(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def _installs_sql(con: duckdb.DuckDBPyConnection, q: Query, s: Settings) -> tuple[str, list[Any]]:
    """One row per counted install (its first download): day, source, time and the breakdown values.

    Automation is dropped per event (User-Agent, CI flag, CI range) and per source-day (behaviour
    class, read from `rollup_sources` where rolled up); then each source-day keeps its first
    `max_installs` installs.
    """
    dims = ", ".join(f"{DIMENSIONS[d]} AS {name}" for name, d in BREAKDOWNS.items())
    ci_clouds = ", ".join(f"'{c}'" for c in CI_CLOUDS)
    ua = ", ".join(f"'{c}'" for c in AUTOMATED_UA)
    classes = ", ".join(f"'{c}'" for c in AUTOMATED_CLASSES)
    auto_event = f"coalesce(ua_category IN ({ua}), false) OR coalesce(ci, false) OR coalesce(cloud IN ({ci_clouds}), false)"
    cls_rel, cls_params = daily(con, q, "rollup_sources", sources_sql())
    keep = "true"
    if not s.include_automation:
        keep = f"""NOT ({auto_event}) AND NOT EXISTS (
          SELECT 1 FROM ({cls_rel}) c WHERE c.day = i.day AND c.project = i.project
            AND c.source_id = i.source_id AND c.behaviour IN ({classes}))"""  # noqa: S608 - constants
    sql = f"""
SELECT day, src, {", ".join(BREAKDOWNS)} FROM (
  SELECT *, row_number() OVER (PARTITION BY day, src ORDER BY ts, id) AS nth FROM (
    SELECT i.*, coalesce(i.source_id, 'event-' || CAST(i.id AS VARCHAR)) AS src FROM (
      SELECT {DAY} AS day, id, ts, project, source_id, ua_category, ci, cloud, {dims},
        row_number() OVER (PARTITION BY install_key ORDER BY ts, id) AS first
      FROM ({sessions_sql()}) WHERE dl AND project = ?::VARCHAR
    ) i WHERE first = 1 AND {keep}
  )
) WHERE nth <= ?"""  # noqa: S608 - constants of this module and the store only
    params: list[Any] = [q.since, q.until, q.project]
    if not s.include_automation:
        params += cls_params
    return sql, [*params, s.max_installs]


def _unique_sources(
    con: duckdb.DuckDBPyConnection, kind: str, first: dt.date, project: str, s: Settings
) -> int:
    level = "client" if s.include_automation else PUBLIC_LEVEL
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'hll' AND schema_name = 'main'"
    ).fetchone()
    if not (exists and exists[0]):
        return 0
    registers = """SELECT {'p': period} AS grp, register, max(rank) AS rank FROM hll
      WHERE kind = ? AND level = ? AND period = ? AND NOT dl AND project = ? GROUP BY ALL"""
    row = con.execute(
        f"SELECT estimate FROM ({estimate_sql(registers)})",  # noqa: S608 - constants
        [kind, level, first, project],
    ).fetchone()
    return int(row[0]) if row else 0


def suppress(values: Sequence[int], k: int) -> list[bool]:
    """Which cells are withheld: those below k, then the smallest others until the withheld ones
    add up to k or more (or everything is withheld), so no total minus the shown cells is below k."""
    withheld = [v < k for v in values]
    hidden = sum(max(v, 0) for v, w in zip(values, withheld, strict=True) if w)
    order = sorted((v, i) for i, v in enumerate(values) if not withheld[i])
    while 0 < hidden < k and order:
        v, i = order.pop(0)
        withheld[i] = True
        hidden += v
    return withheld


def _period(
    con: duckdb.DuckDBPyConnection,
    project: str,
    kind: str,
    bounds: tuple[dt.date, dt.date],
    s: Settings,
    noise: Noise | None,
) -> Period:
    first, last = bounds
    q = Query(since=_midnight(first), until=_midnight(last + dt.timedelta(days=1)), project=project)
    sql, params = _installs_sql(con, q, s)
    by: dict[str, list[Cell]] = {}
    withheld: dict[str, int] = {}
    # One pass: the total (all grouping columns NULL) and every breakdown, by GROUPING SETS.
    names = list(BREAKDOWNS)
    sets = ", ".join(f"({n})" for n in names)
    which = " ".join(f"WHEN grouping({n}) = 0 THEN '{n}'" for n in names)
    value = " ".join(f"WHEN grouping({n}) = 0 THEN CAST({n} AS VARCHAR)" for n in names)
    grouped = con.execute(
        f"""SELECT CASE {which} END AS dim, coalesce(CASE {value} END, 'unknown') AS value, count(*)
        FROM ({sql}) GROUP BY GROUPING SETS ({sets}, ()) ORDER BY dim NULLS FIRST, value""",  # noqa: S608
        params,
    ).fetchall()
    total = sum(int(r[2]) for r in grouped if r[0] is None)
    uniq = _unique_sources(con, kind, first, project, s)
    if noise is not None:
        uniq = noise([uniq], 1)[0]
        total = noise([total], s.max_installs)[0]
    for name in names:
        rows = [(r[1], int(r[2])) for r in grouped if r[0] == name]
        values = [n for _, n in rows]
        if noise is not None and values:
            values = noise(values, s.max_installs)
        hide = suppress(values, s.k)
        cells = [Cell(str(r[0]), v) for r, v, h in zip(rows, values, hide, strict=True) if not h]
        cells.sort(key=lambda c: (-c.installs, c.value))
        by[name] = cells
        withheld[name] = sum(hide)
    return Period(
        start=first,
        end=last,
        unique_sources=uniq if uniq >= s.k else None,
        installs=total if total >= s.k else None,
        by=by,
        withheld=withheld,
    )


def release(
    con: duckdb.DuckDBPyConnection,
    project: str,
    today: dt.date,
    settings: Settings,
    noise: Noise | None = None,
    noise_info: dict[str, Any] | None = None,
) -> Release:
    """The public release of `project` (normalised) as of `today`; `noise` adds the DP noise."""
    week, month = complete_periods(today)
    return Release(
        project=project,
        made=today,
        k=settings.k,
        automation_excluded=not settings.include_automation,
        noise=noise_info if noise is not None else None,
        week=_period(con, project, "week", week, settings, noise),
        month=_period(con, project, "month", month, settings, noise),
    )
