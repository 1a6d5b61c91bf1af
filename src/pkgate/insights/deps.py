"""Requested vs pulled in, and by whom: the dependency structure of resolver sessions.

Definitions (also in docs/insights.md):
- a *session* is one source's requests with one User-Agent, each less than `SESSION_GAP_S` after
  the previous one — as for installs, but over every request including names the gateway does not
  serve (`index-miss`, what `--extra-index-url` users ask for). A project is *installed* in a
  session when one of its files is downloaded in it;
- in a session, an installed project is a *dependency* when another project installed in the same
  session lists it in the Requires-Dist of the version downloaded (any marker, any extra; the
  metadata is read off the request path into `dist_requires`, `pkgate.store.deps`); otherwise it is
  a *root* (`pip install a b` and `-r requirements.txt` have several). Chains count through the
  projects installed: with a -> b -> c all downloaded, b and c are dependencies;
- `dependencies`: per project, installs (sessions installing it), as a root, as a dependency, and
  `incomplete`: installs in sessions where some downloaded version has no metadata yet (its role
  may change when it arrives);
- `pulled_in_by`: per (project, root), the sessions where that root pulled the project in,
  directly or through other installed projects;
- `alongside`: per (project, other name), the sessions where the other name was installed or asked
  for (`index-miss`) in the same session; `served` says whether the gateway serves it.
The sessions' projects are a daily rollup (`rollup_session_projects`); the Requires-Dist is
joined at query time, so metadata that arrives after a day was rolled up still counts.
"""

from __future__ import annotations

from typing import Any

import duckdb
import msgspec

from pkgate.insights.coverage import daily
from pkgate.insights.query import Query
from pkgate.store.aggregates import session_projects_sql

__all__ = ["AlongsideRow", "DependencyRow", "PulledRow", "alongside", "dependencies", "pulled_in_by"]


class DependencyRow(msgspec.Struct):
    project: str
    installs: int
    root: int
    dependency: int
    incomplete: int


class PulledRow(msgspec.Struct):
    project: str
    pulled_in_by: str
    installs: int


class AlongsideRow(msgspec.Struct):
    project: str
    alongside: str
    sessions: int
    served: bool


def _has_requires(con: duckdb.DuckDBPyConnection) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'dist_requires' AND schema_name = 'main'"
    ).fetchone()
    return bool(row and row[0])


def _sessions(con: duckdb.DuckDBPyConnection, q: Query) -> tuple[str, list[Any]]:
    """CTEs `k` (rows of `session_projects_sql` for the range), `installed`, `iv`, `edges`,
    `roles`, and their parameters."""
    rel, params = daily(con, q, "rollup_session_projects", session_projects_sql())
    requires = _has_requires(con)
    req = (
        "SELECT project, version, unnest(requires) AS dep FROM dist_requires"
        if requires
        else "SELECT NULL::VARCHAR AS project, NULL::VARCHAR AS version, NULL::VARCHAR AS dep WHERE false"
    )
    known = (
        "SELECT project, version, status FROM dist_requires"
        if requires
        else "SELECT NULL::VARCHAR AS project, NULL::VARCHAR AS version, NULL::VARCHAR AS status WHERE false"
    )
    ctes = f"""
k AS MATERIALIZED (SELECT sk, project, version, dl, miss FROM ({rel})),
iv AS (SELECT DISTINCT sk, project, version FROM k WHERE dl),
installed AS (SELECT DISTINCT sk, project FROM iv),
req AS ({req}),
known AS ({known}),
edges AS (
  SELECT DISTINCT iv.sk, iv.project AS parent, c.project AS child
  FROM iv JOIN req ON req.project = iv.project AND req.version = iv.version
  JOIN installed c ON c.sk = iv.sk AND c.project = req.dep
  WHERE c.project <> iv.project
),
deps AS (SELECT DISTINCT sk, child FROM edges),
gaps AS (
  SELECT DISTINCT iv.sk FROM iv LEFT JOIN known ON known.project = iv.project AND known.version = iv.version
  WHERE known.status IS DISTINCT FROM 'ok'
),
roles AS (
  SELECT i.sk, i.project, d.child IS NOT NULL AS dep, g.sk IS NOT NULL AS incomplete
  FROM installed i LEFT JOIN deps d ON d.sk = i.sk AND d.child = i.project LEFT JOIN gaps g ON g.sk = i.sk
)"""  # noqa: S608 - constants only
    return ctes, params


def _skip(q: Query) -> bool:
    return q.ecosystem not in (None, "python")


def dependencies(con: duckdb.DuckDBPyConnection, q: Query) -> list[DependencyRow]:
    """Per project: installs as a root and as a dependency (most installed first)."""
    if _skip(q):
        return []
    ctes, params = _sessions(con, q)
    sql = f"""WITH {ctes}
      SELECT project, count(*), count(*) FILTER (WHERE NOT dep), count(*) FILTER (WHERE dep),
        count(*) FILTER (WHERE incomplete)
      FROM roles WHERE ?::VARCHAR IS NULL OR project = ?::VARCHAR
      GROUP BY project ORDER BY count(*) DESC, project"""  # noqa: S608 - constants only
    rows = con.execute(sql, [*params, q.project, q.project]).fetchall()
    return [DependencyRow(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def pulled_in_by(con: duckdb.DuckDBPyConnection, q: Query, limit: int = 10) -> list[PulledRow]:
    """Per project, the roots that pulled it in (directly or transitively), top `limit` each."""
    if _skip(q):
        return []
    ctes, params = _sessions(con, q)
    sql = f"""WITH RECURSIVE {ctes},
      reach AS (
        SELECT sk, project AS root, project AS node FROM roles WHERE NOT dep
        UNION
        SELECT r.sk, r.root, x.child FROM reach r JOIN edges x ON x.sk = r.sk AND x.parent = r.node
      ),
      counted AS (
        SELECT node AS project, root, count(DISTINCT sk) AS n FROM reach WHERE node <> root GROUP BY ALL
      )
      SELECT project, root, n FROM (
        SELECT *, row_number() OVER (PARTITION BY project ORDER BY n DESC, root) AS rank FROM counted
        WHERE ?::VARCHAR IS NULL OR project = ?::VARCHAR)
      WHERE rank <= ? ORDER BY project, n DESC, root"""  # noqa: S608 - constants only
    rows = con.execute(sql, [*params, q.project, q.project, limit]).fetchall()
    return [PulledRow(r[0], r[1], int(r[2])) for r in rows]


def alongside(con: duckdb.DuckDBPyConnection, q: Query, limit: int = 10) -> list[AlongsideRow]:
    """Per project, the names most often installed or asked for in the same sessions, top `limit`."""
    if _skip(q):
        return []
    ctes, params = _sessions(con, q)
    sql = f"""WITH {ctes},
      names AS (
        SELECT DISTINCT sk, project AS name, true AS served FROM installed
        UNION
        SELECT DISTINCT sk, project, false FROM k WHERE miss
      ),
      pairs AS (
        SELECT i.project, n.name, bool_or(n.served) AS served, count(DISTINCT i.sk) AS n
        FROM installed i JOIN names n ON n.sk = i.sk AND n.name <> i.project
        WHERE ?::VARCHAR IS NULL OR i.project = ?::VARCHAR
        GROUP BY ALL
      )
      SELECT project, name, n, served FROM (
        SELECT *, row_number() OVER (PARTITION BY project ORDER BY n DESC, name) AS rank FROM pairs)
      WHERE rank <= ? ORDER BY project, n DESC, name"""  # noqa: S608 - constants only
    rows = con.execute(sql, [*params, q.project, q.project, limit]).fetchall()
    return [AlongsideRow(r[0], r[1], int(r[2]), bool(r[3])) for r in rows]
