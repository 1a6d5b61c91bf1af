"""Weekly and monthly HyperLogLog sketches: distinct sources per period without any id linking days.

The edge turns each address into one register update per period (`SourceHasher.marks`, under a
key that lives only for that period); the loader folds the updates of each batch into `hll`, one
row per (period, level, downloads-only, ecosystem, project, register) holding the largest rank
seen, and stores nothing per event. Sketches merge by taking the largest rank per register, so
the union over ecosystems or projects is exact sketch arithmetic, not a sum.

Why not a library: the marks must be computed at the edge under the period key, and only the
register and rank may travel (a whole keyed hash would be a week-long id in the spool). Apache
DataSketches and the other PyPI HLLs hash their own input and cannot ingest (register, rank)
pairs; DuckDB's `approx_count_distinct` keeps its sketch internal and cannot merge stored ones.
What is left is a table of register maxima and the standard estimator (Flajolet et al. 2007 with
linear counting for small counts, as in HLL++), a few lines of SQL (`estimate_sql`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import duckdb
import pyarrow as pa

from pkgate.enrich.sources import DAY_US, HLL_P, PERIODS, period_of
from pkgate.enrich.ua import parse_cached
from pkgate.events import Event
from pkgate.events.model import is_download
from pkgate.store.aggregates import CI_CLOUDS

__all__ = ["HLL_M", "PUBLIC_LEVEL", "RELATIVE_ERROR", "ensure_sketches", "estimate_sql", "fold_marks"]

HLL_M: Final = 1 << HLL_P
#: Standard error of the estimate; the tests allow 3 of these.
RELATIVE_ERROR: Final = 1.04 / math.sqrt(HLL_M)
_ALPHA: Final = 0.7213 / (1 + 1.079 / HLL_M)
#: Level of the sketches behind the public stats: client marks of events that are not automation
#: by themselves (a mirror or bot User-Agent, a CI flag or a CI provider's address range).
PUBLIC_LEVEL: Final = "public"
_CI_CLOUDS: Final = frozenset(CI_CLOUDS)
_MARKS: Final = (("client", 0), ("network", 1))
_PUBLIC_MARKS: Final = (*_MARKS, (PUBLIC_LEVEL, 0))


def _automated(e: Event) -> bool:
    if e.cloud in _CI_CLOUDS:
        return True
    ua = parse_cached(e.user_agent or "")
    return ua.category in ("mirror", "bot") or bool(ua.ci)


_TABLE: Final = """
CREATE TABLE IF NOT EXISTS hll (
  kind VARCHAR NOT NULL, period DATE NOT NULL, level VARCHAR NOT NULL, dl BOOLEAN NOT NULL,
  ecosystem VARCHAR NOT NULL, project VARCHAR NOT NULL, register SMALLINT NOT NULL, rank TINYINT NOT NULL,
  PRIMARY KEY (kind, period, level, dl, ecosystem, project, register)
)"""


def ensure_sketches(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(_TABLE)


def _is_download(e: Event) -> bool:
    return is_download(e.kind, e.method, e.status, e.partial)


def fold_marks(con: duckdb.DuckDBPyConnection, events: Sequence[Event]) -> int:
    """Fold the events' marks into the sketches (idempotent: a re-delivered event changes nothing).

    Only events that name a project count, as in the daily uniques; project '' is the gateway
    total. Returns the number of register updates offered.
    """
    marked = [e for e in events if e.project is not None and len(e.marks) == 2 * len(PERIODS)]
    if not marked:
        return 0
    ids = list({i for e in marked for i in (e.source_id, e.network_id) if i})
    erased = {
        r[0]
        for r in con.execute(
            "SELECT source_id FROM erasures WHERE source_id IN (SELECT unnest(?::VARCHAR[]))", [ids]
        ).fetchall()
    }
    # What a fold depends on; a batch holds many requests of one client for one project (a pip
    # install's files), each folded once here instead of once per event.
    seen = {
        (
            e.ts_us // DAY_US,
            _is_download(e),
            e.ecosystem or "python",
            str(e.project),
            tuple(e.marks),
            _automated(e),
        )
        for e in marked
        if e.source_id not in erased and e.network_id not in erased  # erased: its late marks dropped
    }
    firsts: dict[int, list[int]] = {}
    best: dict[tuple[str, int, str, bool, str, str, int], int] = {}
    for day, download, ecosystem, project, marks, automated in seen:
        first_days = firsts.get(day)
        if first_days is None:
            first_days = firsts[day] = [period_of(kind, day)[0] for kind in PERIODS]
        dls = (False, True) if download else (False,)
        # (level, which of the period's two marks): the public level reuses the client mark
        levels = _MARKS if automated else _PUBLIC_MARKS
        for i, kind in enumerate(PERIODS):
            first = first_days[i]
            for level, j in levels:
                mark = marks[2 * i + j]
                register, rank = mark >> 6, mark & 63
                if not (0 <= register < HLL_M and 1 <= rank <= 64 - HLL_P + 1):
                    continue  # not a mark this version makes: ignore rather than corrupt a sketch
                for dl in dls:
                    for name in (project, ""):
                        key = (kind, first, level, dl, ecosystem, name, register)
                        if best.get(key, 0) < rank:
                            best[key] = rank
    if not best:
        return 0
    ensure_sketches(con)
    cols = list(zip(*((*k, r) for k, r in best.items()), strict=True))
    names = ("kind", "day", "level", "dl", "ecosystem", "project", "register", "rank")
    con.register("pkgate_marks", pa.table(dict(zip(names, cols, strict=True))))
    try:
        con.execute(
            "INSERT INTO hll SELECT kind, DATE '1970-01-01' + CAST(day AS INTEGER), level, dl, ecosystem, "
            "project, register, rank FROM pkgate_marks "
            "ON CONFLICT DO UPDATE SET rank = greatest(rank, excluded.rank)"
        )
    finally:
        con.unregister("pkgate_marks")
    return len(best)


def estimate_sql(registers: str) -> str:
    """SELECT over `registers` (columns: group keys..., register, rank; one row per register) ->
    the HyperLogLog estimate per group, as `GROUP BY ALL` over the other columns is not possible:
    the caller passes rows already reduced to (grp, register, rank) with `grp` a struct."""
    return f"""
SELECT grp, CASE
    WHEN est <= 2.5 * {HLL_M} AND zeros > 0 THEN round({HLL_M} * ln({HLL_M} / zeros::DOUBLE))
    ELSE round(est) END::BIGINT AS estimate
FROM (
  SELECT grp, {_ALPHA}::DOUBLE * {HLL_M} * {HLL_M} / (sum(pow(2.0, -rank)) + ({HLL_M} - count(*))) AS est,
    {HLL_M} - count(*) AS zeros
  FROM ({registers}) GROUP BY grp
)"""  # noqa: S608 - constants and the caller's constant SQL only
