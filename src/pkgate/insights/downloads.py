"""Downloads vs attempts, per project and version.

Definitions (also in docs/insights.md):
- downloads: `GET` file requests answered with a redirect (3xx) to the upstream file;
- index_hits: `GET`/`HEAD` index page requests answered 200 (project rows have version NULL);
- not_modified: index requests answered 304 (revalidations by clients that had the page);
- head: `HEAD` requests for files;
- metadata: PEP 658 `.metadata` fetches answered with a redirect;
- failed: any request for the project answered 4xx/5xx;
- sources: distinct daily source ids, summed over the days of the range (ids rotate daily, so the
  same machine on two days counts twice — see docs/privacy.md).
"""

from __future__ import annotations

import duckdb
import msgspec

from pkgate.insights.query import Query


class DownloadRow(msgspec.Struct):
    project: str
    version: str | None
    downloads: int
    index_hits: int
    not_modified: int
    head: int
    metadata: int
    failed: int
    sources: int


_SQL = """
WITH e AS (
  SELECT * FROM events
  WHERE project IS NOT NULL
    AND ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ
    AND (?::VARCHAR IS NULL OR project = ?::VARCHAR)
),
per_day AS (
  SELECT project, version, CAST(ts AS DATE) AS day, count(DISTINCT source_id) AS uniq
  FROM e GROUP BY ALL
)
SELECT e.project, e.version,
  count(*) FILTER (WHERE kind = 'file' AND method = 'GET' AND status BETWEEN 300 AND 399) AS downloads,
  count(*) FILTER (WHERE kind LIKE 'index-%' AND status = 200) AS index_hits,
  count(*) FILTER (WHERE kind LIKE 'index-%' AND status = 304) AS not_modified,
  count(*) FILTER (WHERE kind = 'file' AND method = 'HEAD') AS head,
  count(*) FILTER (WHERE kind = 'metadata' AND status BETWEEN 300 AND 399) AS metadata,
  count(*) FILTER (WHERE status >= 400) AS failed,
  coalesce(any_value(s.sources), 0) AS sources
FROM e
LEFT JOIN (SELECT project, version, sum(uniq) AS sources FROM per_day GROUP BY ALL) s
  ON s.project = e.project AND s.version IS NOT DISTINCT FROM e.version
GROUP BY e.project, e.version
ORDER BY e.project, e.version NULLS FIRST
"""


def downloads(con: duckdb.DuckDBPyConnection, q: Query) -> list[DownloadRow]:
    """One row per (project, version) with requests in [since, until)."""
    rows = con.execute(_SQL, [q.since, q.until, q.project, q.project]).fetchall()
    return [DownloadRow(r[0], r[1], *(int(x) for x in r[2:])) for r in rows]
