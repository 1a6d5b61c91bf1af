"""Daily aggregates of `events`: one SQL per rollup table, shared by the refresh and the insights.

Each `*_sql()` returns a SELECT over the events with `start <= ts < end` (two `?` parameters),
grouped by UTC day. `pkgate.store.rollups` stores its result for finished days; the insights run
the very same SQL over the events the rollups do not cover (today, partial days at the edges of a
range), so a number is the same whichever path computed it. Every name spliced into the SQL is a
constant of this module: user text only ever travels as a parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pkgate.store.classes import class_sql

#: UTC day of an event: source ids rotate at UTC midnight, so days are always UTC days. Integer
#: arithmetic on the epoch: independent of the session time zone and ~10x faster than timezone().
DAY: Final = "(DATE '1970-01-01' + CAST(epoch_us(ts) // 86400000000 AS INTEGER))"
#: A download: a whole-file GET that the gateway answered with a redirect to the upstream file.
#: GETs with a Range header (`partial`) are lazy-wheel metadata reads by uv/pip, not downloads.
#: For images, a pull: an image manifest GET relayed (200); its blobs are layer fetches (`blob`).
DOWNLOAD: Final = (
    "((kind = 'file' AND method = 'GET' AND status BETWEEN 300 AND 399 AND NOT coalesce(partial, false))"
    " OR (kind = 'manifest' AND method = 'GET' AND status = 200))"
)
#: A metadata-only fetch: a PEP 658 `.metadata` redirect, or a ranged read of the wheel itself.
METADATA: Final = "(status BETWEEN 300 AND 399 AND (kind = 'metadata' OR (kind = 'file' AND method = 'GET' AND coalesce(partial, false))))"
#: Events that count as a project's traffic. `index-miss` (a name the gateway does not serve,
#: answered 404 without an upstream: what `--extra-index-url` users install alongside) is not a
#: download nor an attempt of that project; a report of its own reads those events.
COUNTED: Final = "kind <> 'index-miss'"
#: Requests closer than this to the previous one of a source belong to the same run (one
#: `pip install` makes an index request, a metadata read and a download within seconds).
RUN_GAP_S: Final = 60
#: A gap between runs is "regular" when it is within this fraction of a whole multiple
#: (1x, 2x, ...) of the source's median gap: jitter and missed polls stay regular.
REGULAR_TOLERANCE: Final = 0.2
#: A resolver session: one source's requests with the same User-Agent, each less than this after
#: the previous one. Within it, the downloads of one file are one *install* (uv reads a wheel's
#: metadata and then downloads it, pip retries, a client re-fetches a file it already had).
SESSION_GAP_S: Final = 60
#: The ecosystem of an event (stores older than the `ecosystem` column hold only Python).
ECOSYSTEM: Final = "coalesce(ecosystem, 'python')"
#: `cloud` values that are CI providers' published ranges.
CI_CLOUDS: Final = (
    "github-actions",
    "gitlab",
    "gitlab-ci",
    "circleci",
    "azure-pipelines",
    "travis",
    "buildkite",
)

#: Breakdown dimensions -> SQL expression (VARCHAR). The only names `breakdown` accepts.
DIMENSIONS: Final[dict[str, str]] = {
    "installer": "installer",
    "installer_version": "concat_ws(' ', installer, installer_version)",
    "python": r"regexp_extract(python, '^(\d+\.\d+)')",
    "implementation": "implementation",
    "system": "system",
    "distro": "distro",
    "cpu": "cpu",
    "libc": "libc",
    "country": "country",
    "org": "org",
    "asn": "CAST(asn AS VARCHAR)",
    "cloud": "cloud",
    "ci": "CAST(coalesce(ci, false) AS VARCHAR)",
    "version": "version",
    "platform": "platform",  # conda subdir (`linux-64`, `noarch`), OCI platform
    "solver": "solver",  # the solver a conda client names
    "digest": "digest",  # OCI content digest of a pulled manifest
}

_RANGE: Final = "ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ"


def sessions_sql() -> str:
    """The counted events of the range (`COUNTED`) with `dl` (a download), `eco` and `install_key`.

    `install_key` is the same for every download of one file in one resolver session (see
    `SESSION_GAP_S`) and NULL for anything but a download; `count(DISTINCT install_key)` is the
    number of installs. A download without a source id is an install of its own.
    """
    part = "PARTITION BY source_id, user_agent ORDER BY ts, id"
    return f"""
SELECT *, CASE WHEN NOT dl THEN NULL WHEN source_id IS NULL THEN hash(id)
    ELSE hash(source_id, user_agent, session_no, filename) END AS install_key
FROM (
  SELECT *, sum(new_session) OVER ({part} ROWS UNBOUNDED PRECEDING) AS session_no
  FROM (
    SELECT *, {DOWNLOAD} AS dl, {ECOSYSTEM} AS eco,
      CASE WHEN ts - lag(ts) OVER ({part}) < INTERVAL {SESSION_GAP_S} SECOND THEN 0 ELSE 1 END AS new_session
    FROM events WHERE {_RANGE} AND {COUNTED}
  )
)"""  # noqa: S608 - constants only


def daily_sql() -> str:
    """Per (day, ecosystem, project, version): downloads, installs, attempts and sources of that day."""
    return f"""
SELECT {DAY} AS day, eco AS ecosystem, project, version,
  count(*) FILTER (WHERE dl) AS downloads,
  count(DISTINCT install_key) AS installs,
  count(*) FILTER (WHERE kind LIKE 'index-%' AND status = 200) AS index_hits,
  count(*) FILTER (WHERE kind LIKE 'index-%' AND status = 304) AS not_modified,
  count(*) FILTER (WHERE kind IN ('file', 'manifest') AND method = 'HEAD') AS head,
  count(*) FILTER (WHERE {METADATA}) AS metadata,
  count(*) FILTER (WHERE status >= 400) AS failed,
  count(*) AS requests,
  count(DISTINCT source_id) AS sources
FROM ({sessions_sql()}) WHERE project IS NOT NULL
GROUP BY ALL"""  # noqa: S608 - constants only


def uniques_sql() -> str:
    """Distinct sources and networks per day and ecosystem at three grains: version (0), project (1),
    all (3).

    `grain` is DuckDB's `grouping(project, version)`; version rows exclude version-less requests.
    """
    return f"""
SELECT day, ecosystem, project, version, CAST(grouping(project, version) AS TINYINT) AS grain,
  count(DISTINCT source_id) AS sources,
  count(DISTINCT network_id) AS networks,
  count(DISTINCT source_id) FILTER (WHERE dl) AS downloaders,
  count(DISTINCT network_id) FILTER (WHERE dl) AS download_networks,
  count(*) FILTER (WHERE dl) AS downloads,
  count(DISTINCT install_key) AS installs
FROM (
  SELECT {DAY} AS day, eco AS ecosystem, project, version, source_id, network_id, dl, install_key
  FROM ({sessions_sql()}) WHERE project IS NOT NULL
)
GROUP BY GROUPING SETS ((day, ecosystem, project, version), (day, ecosystem, project), (day, ecosystem))
HAVING NOT (grouping(version) = 0 AND version IS NULL)"""  # noqa: S608 - constants only


def version_country_sql() -> str:
    """Per (day, ecosystem, project, version, country): distinct sources and downloaders, downloads
    and installs (the dashboard's version x country view)."""
    return f"""
SELECT {DAY} AS day, eco AS ecosystem, project, version, country,
  count(DISTINCT source_id) AS sources,
  count(DISTINCT source_id) FILTER (WHERE dl) AS downloaders,
  count(*) FILTER (WHERE dl) AS downloads,
  count(DISTINCT install_key) AS installs
FROM ({sessions_sql()}) WHERE project IS NOT NULL AND version IS NOT NULL
GROUP BY ALL"""  # noqa: S608 - constants only


def breakdown_sql(dims: Sequence[str] = tuple(DIMENSIONS)) -> str:
    """Per (day, ecosystem, project, dimension, value) and per (day, ecosystem, dimension, value)
    with project NULL.

    `value` NULL means the client did not say (or the dimension does not apply).
    """
    exprs = ", ".join(f"{DIMENSIONS[d]} AS {d}" for d in dims)  # KeyError on a non-dimension
    return f"""
SELECT day, ecosystem, project, dim, value,
  count(*) FILTER (WHERE dl) AS downloads,
  count(DISTINCT install_key) AS installs,
  count(*) AS requests,
  count(DISTINCT source_id) AS sources
FROM (
  SELECT {DAY} AS day, eco AS ecosystem, project, source_id, dl, install_key, {exprs}
  FROM ({sessions_sql()}) WHERE project IS NOT NULL
) UNPIVOT INCLUDE NULLS (value FOR dim IN ({", ".join(dims)}))
GROUP BY GROUPING SETS ((day, ecosystem, project, dim, value), (day, ecosystem, dim, value))"""  # noqa: S608 - constants only


def sources_sql() -> str:
    """Behaviour features per (day, project, source): the inputs of the behaviour classes.

    A *run* is a burst of requests less than `RUN_GAP_S` apart; `regularity` is the share of gaps
    between run starts that are close to a whole multiple of the median gap (NULL with no gap);
    `cv` the coefficient of variation of those gaps (NULL with fewer than two). `projects`,
    `mirror_ua` and `ci` look at all the source's requests of the day, not just this project's.
    `behaviour` is the class under the default thresholds (`pkgate.store.classes`).
    """
    ci_clouds = ", ".join(f"'{c}'" for c in CI_CLOUDS)
    key = "day, ecosystem, project, source_id"
    return f"""
WITH e AS (
  SELECT {DAY} AS day, ts, eco AS ecosystem, project, source_id, network_id, version, filename, status,
    dl, install_key,
    coalesce(ua_category = 'mirror', false) AS mirror_ua,
    coalesce(ci, false) OR coalesce(cloud IN ({ci_clouds}), false) AS ci
  FROM ({sessions_sql()}) WHERE source_id IS NOT NULL
),
src AS (
  SELECT day, source_id, count(DISTINCT project) AS projects, bool_or(mirror_ua) AS mirror_ua,
    bool_or(ci) AS ci
  FROM e GROUP BY day, source_id
),
p AS (
  SELECT {key}, ts, dl,
    CASE WHEN ts - lag(ts) OVER w <= INTERVAL {RUN_GAP_S} SECOND THEN 0 ELSE 1 END AS new_run
  FROM e WHERE project IS NOT NULL
  WINDOW w AS (PARTITION BY {key} ORDER BY ts)
),
r AS (
  SELECT {key}, ts, dl,
    sum(new_run) OVER (PARTITION BY {key} ORDER BY ts ROWS UNBOUNDED PRECEDING) AS run_no
  FROM p
),
runs AS (SELECT {key}, run_no, min(ts) AS start, bool_or(dl) AS dl FROM r GROUP BY {key}, run_no),
gaps AS (
  SELECT {key}, dl, epoch(start - lag(start) OVER (PARTITION BY {key} ORDER BY start)) AS gap
  FROM runs
),
gstat AS (
  SELECT {key}, count(*) AS runs, count(*) FILTER (WHERE dl) AS download_runs,
    count(gap) AS n_gaps, median(gap) AS med, avg(gap) AS mean, stddev_pop(gap) AS sd
  FROM gaps GROUP BY {key}
),
reg AS (
  SELECT g.day, g.ecosystem, g.project, g.source_id,
    avg(CASE WHEN round(g.gap / s.med) >= 1
              AND abs(g.gap / s.med - round(g.gap / s.med)) <= {REGULAR_TOLERANCE}
        THEN 1.0 ELSE 0.0 END) AS regularity
  FROM gaps g JOIN gstat s USING (day, ecosystem, project, source_id)
  WHERE g.gap IS NOT NULL AND s.med > 0
  GROUP BY g.day, g.ecosystem, g.project, g.source_id
),
cnt AS (
  SELECT {key}, any_value(network_id) AS network_id, count(*) AS requests,
    count(*) FILTER (WHERE dl) AS downloads,
    count(DISTINCT install_key) AS installs,
    count(*) FILTER (WHERE status = 304) AS not_modified,
    count(DISTINCT version) FILTER (WHERE dl) AS versions
  FROM e WHERE project IS NOT NULL GROUP BY {key}
),
files AS (
  SELECT {key}, max(n) AS max_file_downloads
  FROM (SELECT {key}, filename, count(*) AS n FROM e WHERE dl AND project IS NOT NULL
        GROUP BY {key}, filename)
  GROUP BY {key}
)
SELECT *, {class_sql()} AS behaviour FROM (
SELECT *, not_modified / requests AS revalidated, download_runs / runs AS fresh FROM (
SELECT c.day, c.ecosystem, c.project, c.source_id, c.network_id, c.requests, s.runs, s.download_runs,
  c.downloads, c.installs, c.not_modified, c.versions, coalesce(f.max_file_downloads, 0) AS max_file_downloads,
  src.projects, src.mirror_ua, src.ci, reg.regularity,
  CASE WHEN s.n_gaps >= 2 AND s.mean > 0 THEN s.sd / s.mean END AS cv
FROM cnt c
JOIN gstat s USING (day, ecosystem, project, source_id)
JOIN src USING (day, source_id)
LEFT JOIN files f USING (day, ecosystem, project, source_id)
LEFT JOIN reg USING (day, ecosystem, project, source_id)))"""  # noqa: S608 - constants only


def behaviour_sql(rel: str) -> str:
    """Per (day, ecosystem, project, class) and (day, ecosystem, class) with project NULL, from
    `sources_sql` rows."""
    return f"""
SELECT day, ecosystem, project, behaviour, count(DISTINCT source_id) AS sources,
  sum(requests)::BIGINT AS requests, sum(downloads)::BIGINT AS downloads, sum(installs)::BIGINT AS installs
FROM ({rel}) GROUP BY GROUPING SETS ((day, ecosystem, project, behaviour), (day, ecosystem, behaviour))"""  # noqa: S608


def source_days_sql(rel: str) -> str:
    """Per (day, ecosystem, source) over all projects, from `sources_sql` rows: the heavy-hitter unit."""
    return f"""
SELECT day, ecosystem, source_id, sum(downloads)::BIGINT AS downloads, sum(installs)::BIGINT AS installs,
  sum(requests)::BIGINT AS requests, max(max_file_downloads) AS max_file_downloads
FROM ({rel}) GROUP BY day, ecosystem, source_id"""  # noqa: S608
