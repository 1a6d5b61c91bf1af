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

from pkgate.store.classes import automated_sql, class_sql

#: UTC day of an event: source ids rotate at UTC midnight, so days are always UTC days. Integer
#: arithmetic on the epoch: independent of the session time zone and ~10x faster than timezone().
DAY_OF: Final = "(DATE '1970-01-01' + CAST(epoch_us({}) // 86400000000 AS INTEGER))"
DAY: Final = DAY_OF.format("ts")
#: A download (`pkgate.events.model.is_download` in Python): a whole-file GET that the gateway
#: answered with a redirect to the upstream file, or streamed itself (200: an upstream in proxy
#: mode). GETs with a Range header (`partial`) are lazy-wheel metadata reads by uv/pip, not
#: downloads. For images, a pull: an image manifest GET relayed (200); blobs are layer fetches.
DOWNLOAD: Final = (
    "((kind = 'file' AND method = 'GET' AND (status = 200 OR status BETWEEN 300 AND 399)"
    " AND NOT coalesce(partial, false)) OR (kind = 'manifest' AND method = 'GET' AND status = 200))"
)
#: A metadata-only fetch: a PEP 658 `.metadata` redirect (or its proxied answer), or a ranged read
#: of the wheel itself.
METADATA: Final = (
    "((status BETWEEN 300 AND 399 OR status IN (200, 206)) AND (kind = 'metadata'"
    " OR (kind = 'file' AND method = 'GET' AND coalesce(partial, false))))"
)
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
    # The two CI signals side by side: the User-Agent's flag, and a CI provider's published range.
    "ci_signal": (
        "CASE WHEN coalesce(ci, false) AND coalesce(cloud IN ({ci}), false) THEN 'both' "
        "WHEN coalesce(ci, false) THEN 'user-agent' WHEN coalesce(cloud IN ({ci}), false) THEN 'address' "
        "ELSE 'none' END"
    ).format(ci=", ".join(f"'{c}'" for c in CI_CLOUDS)),
    "version": "version",
    "platform": "platform",  # conda subdir (`linux-64`, `noarch`), OCI platform
    "solver": "solver",  # the solver a conda client names
    "digest": "digest",  # OCI content digest of a pulled manifest
}

_RANGE: Final = "ts >= ?::TIMESTAMPTZ AND ts < ?::TIMESTAMPTZ"


#: Rollup tables whose rows come in two scopes (`scope` 'all' and 'people') instead of being split
#: by `automated`: distinct network counts cannot be summed over the two halves of a split.
SCOPED: Final = frozenset({"rollup_uniques"})
_CI_CLOUDS_SQL: Final = ", ".join(f"'{c}'" for c in CI_CLOUDS)
#: An event's own automation signals, for events without a source id (nothing to group by).
_EVENT_AUTOMATED: Final = (
    "(coalesce(ua_category IN ('mirror', 'bot'), false) OR coalesce(ci, false) "
    f"OR coalesce(cloud IN ({_CI_CLOUDS_SQL}), false))"
)


def source_day_sql(rel: str) -> str:
    """Per (day, source): the source-day behaviour features over all its projects, and `automated`.

    `rel` has the events' columns plus `dl`; rows without a source id are skipped.
    """
    return f"""
SELECT *, {automated_sql()} AS automated FROM (
  SELECT *, CASE WHEN download_projects > 0 THEN files / download_projects END AS files_per_project,
    CASE WHEN projects > 0 THEN missing / projects END AS missing_share
  FROM (
    SELECT {DAY} AS day, source_id, count(DISTINCT project) AS projects,
      count(DISTINCT project) FILTER (WHERE dl) AS download_projects,
      count(DISTINCT filename) FILTER (WHERE dl) AS files,
      count(DISTINCT project) FILTER (WHERE status = 404) AS missing,
      bool_or(coalesce(ua_category = 'mirror', false)) AS mirror_ua,
      bool_or(coalesce(ua_category = 'bot', false)) AS bot_ua,
      bool_or(coalesce(ci, false) OR coalesce(cloud IN ({_CI_CLOUDS_SQL}), false)) AS ci
    FROM ({rel}) WHERE source_id IS NOT NULL GROUP BY ALL
  )
)"""  # noqa: S608 - constants only


def sessions_sql() -> str:
    """The counted events of the range (`COUNTED`) with `dl` (a download), `eco`, `install_key` and
    `automated`.

    `install_key` is the same for every download of one file in one resolver session (see
    `SESSION_GAP_S`) and NULL for anything but a download; `count(DISTINCT install_key)` is the
    number of installs. A download without a source id is an install of its own. `automated` is
    the source-day's (`source_day_sql`): a mirror, a bot or CI, which reports leave out by default;
    an event without a source id is judged by its own User-Agent and address range.
    """
    part = "PARTITION BY source_id, user_agent ORDER BY ts, id"
    return f"""
WITH s AS (
SELECT *, CASE WHEN NOT dl THEN NULL WHEN source_id IS NULL THEN hash(id)
    ELSE hash(source_id, user_agent, session_no, filename) END AS install_key
FROM (
  SELECT *, sum(new_session) OVER ({part} ROWS UNBOUNDED PRECEDING) AS session_no
  FROM (
    SELECT *, {DOWNLOAD} AS dl, {ECOSYSTEM} AS eco,
      CASE WHEN ts - lag(ts) OVER ({part}) < INTERVAL {SESSION_GAP_S} SECOND THEN 0 ELSE 1 END AS new_session
    FROM events WHERE {_RANGE} AND {COUNTED}
  )
)),
sd AS (SELECT day AS sd_day, source_id AS sd_source, automated FROM ({source_day_sql("SELECT * FROM s")}))
SELECT s.*, CASE WHEN s.source_id IS NULL THEN {_EVENT_AUTOMATED} ELSE sd.automated END AS automated
FROM s LEFT JOIN sd ON sd.sd_source = s.source_id AND sd.sd_day = {DAY_OF.format("s.ts")}"""  # noqa: S608 - constants only


def daily_sql() -> str:
    """Per (day, ecosystem, project, version): downloads, installs, attempts and sources of that day."""
    return f"""
SELECT {DAY} AS day, eco AS ecosystem, project, version, automated,
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
    `scope` 'all' counts every source, 'people' only the sources that are not `automated`.
    """
    return f"""
SELECT day, ecosystem, project, version, CAST(grouping(project, version) AS TINYINT) AS grain,
  CASE WHEN grouping(automated) = 1 THEN 'all' ELSE 'people' END AS scope,
  count(DISTINCT source_id) AS sources,
  count(DISTINCT network_id) AS networks,
  count(DISTINCT source_id) FILTER (WHERE dl) AS downloaders,
  count(DISTINCT network_id) FILTER (WHERE dl) AS download_networks,
  count(*) FILTER (WHERE dl) AS downloads,
  count(DISTINCT install_key) AS installs
FROM (
  SELECT {DAY} AS day, eco AS ecosystem, project, version, source_id, network_id, dl, install_key, automated
  FROM ({sessions_sql()}) WHERE project IS NOT NULL
)
GROUP BY GROUPING SETS (
  (day, ecosystem, project, version), (day, ecosystem, project), (day, ecosystem),
  (day, ecosystem, project, version, automated), (day, ecosystem, project, automated), (day, ecosystem, automated))
HAVING NOT (grouping(version) = 0 AND version IS NULL) AND NOT (grouping(automated) = 0 AND automated)"""  # noqa: S608 - constants only


def version_country_sql() -> str:
    """Per (day, ecosystem, project, version, country): distinct sources and downloaders, downloads
    and installs (the dashboard's version x country view)."""
    return f"""
SELECT {DAY} AS day, eco AS ecosystem, project, version, country, automated,
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
SELECT day, ecosystem, project, dim, value, automated,
  count(*) FILTER (WHERE dl) AS downloads,
  count(DISTINCT install_key) AS installs,
  count(*) AS requests,
  count(DISTINCT source_id) AS sources
FROM (
  SELECT {DAY} AS day, eco AS ecosystem, project, source_id, dl, install_key, automated, {exprs}
  FROM ({sessions_sql()}) WHERE project IS NOT NULL
) UNPIVOT INCLUDE NULLS (value FOR dim IN ({", ".join(dims)}))
GROUP BY GROUPING SETS ((day, ecosystem, project, dim, value, automated), (day, ecosystem, dim, value, automated))"""  # noqa: S608 - constants only


def sources_sql() -> str:
    """Behaviour features per (day, project, source): the inputs of the behaviour classes.

    A *run* is a burst of requests less than `RUN_GAP_S` apart; `regularity` is the share of gaps
    between run starts that are close to a whole multiple of the median gap (NULL with no gap);
    `cv` the coefficient of variation of those gaps (NULL with fewer than two). `projects`,
    `mirror_ua`, `ci` and the other `source_day_sql` features look at all the source's requests
    of the day, not just this project's.
    `behaviour` is the class under the default thresholds (`pkgate.store.classes`).
    """
    key = "day, ecosystem, project, source_id"
    return f"""
WITH e AS (
  SELECT {DAY} AS day, ts, eco AS ecosystem, project, source_id, network_id, version, filename, status,
    dl, install_key, ua_category, ci, cloud
  FROM ({sessions_sql()}) WHERE source_id IS NOT NULL
),
src AS ({source_day_sql("SELECT * FROM e")}),
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
  src.projects, src.mirror_ua, src.ci, reg.regularity, src.bot_ua, src.download_projects, src.files,
  src.missing, src.files_per_project, src.missing_share, src.automated,
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


def session_projects_sql() -> str:
    """Per (day, resolver session, project, version): what the session downloaded (`dl`) or asked
    of the gateway in vain (`miss`: `index-miss`, a name it does not serve), Python only.

    Sessions are cut as for installs (`SESSION_GAP_S`, one source and User-Agent) but over every
    request, names the gateway does not serve included; `sk` identifies the session. The
    dependency insights join these rows with the Requires-Dist cache at query time, so metadata
    read after a day was rolled up still counts. `automated` as in `sessions_sql`.
    """
    part = "PARTITION BY source_id, user_agent ORDER BY ts, id"
    return f"""
WITH s AS (
  SELECT *, sum(new) OVER ({part} ROWS UNBOUNDED PRECEDING) AS sno FROM (
    SELECT *, {DOWNLOAD} AS dl,
      CASE WHEN ts - lag(ts) OVER ({part}) < INTERVAL {SESSION_GAP_S} SECOND THEN 0 ELSE 1 END AS new
    FROM events WHERE {_RANGE} AND {ECOSYSTEM} = 'python' AND project IS NOT NULL AND source_id IS NOT NULL
  )
),
a AS (
  SELECT day AS a_day, source_id AS a_source, automated
  FROM ({source_day_sql("SELECT * FROM s WHERE kind <> 'index-miss'")})
)
SELECT {DAY_OF.format("s.ts")} AS day, 'python' AS ecosystem, hash(s.source_id, s.user_agent, s.sno) AS sk,
  s.project, CASE WHEN s.dl THEN s.version END AS version, bool_or(s.dl) AS dl,
  bool_or(s.kind = 'index-miss') AS miss, coalesce(any_value(a.automated), false) AS automated
FROM s LEFT JOIN a ON a.a_source = s.source_id AND a.a_day = {DAY_OF.format("s.ts")}
WHERE s.dl OR s.kind = 'index-miss'
GROUP BY ALL"""  # noqa: S608 - constants only
