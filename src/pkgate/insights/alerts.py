"""Alert rules: questions about the last complete day, answered with the insights' own queries.

Each rule kind looks at the last complete UTC day `day` (yesterday, when run today) and returns
`Alert`s with a stable `key`, so evaluating twice (every loader cycle) proposes the same alerts and
the outbox (`pkgate.store.outbox`) sends each once:

- `spike` / `drop`: a project's downloads on `day` against the mean of the `baseline_days` before
  it (days without requests count 0): spike when >= factor x mean and >= `min_downloads`; drop when
  <= mean / factor and the mean is >= `min_downloads`. Key: kind, project, day.
- `new-org`: an organisation (`org`, from `privacy.asn_db`) that downloads the project on `day`
  and did not request it in the `baseline_days` before, for a project that had downloads in that
  baseline (a project's very first day is not "new organisations"). Key: project, org (once ever).
- `aggressive`: sources that downloaded one file of the project more than `max_file_per_day` times
  on `day` (the heavy-hitters flag): the "misconfigured or overly aggressive deployment/update
  services". Source ids rotate daily, so every such day is new; key: project, day.
- `release`: a version first seen on `day` (a project that had requests before): its first-day
  downloads, installs and share of the project's downloads. Key: project, version (once ever).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections.abc import Sequence
from typing import Any, Final

import duckdb
import msgspec

from pkgate.insights.adoption import adoption, first_seen
from pkgate.insights.breakdown import breakdown
from pkgate.insights.downloads import downloads_daily
from pkgate.insights.heavy_hitters import heavy_hitters
from pkgate.insights.query import Query

__all__ = ["KINDS", "Alert", "Rule", "evaluate"]

KINDS: Final = ("spike", "drop", "new-org", "aggressive", "release")


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """The fields of a `[[alerts.rules]]` table this module reads (config is a layer above)."""

    kind: str
    projects: tuple[str, ...] = ("*",)
    factor: float = 3.0
    baseline_days: int = 7
    min_downloads: int = 20
    max_file_per_day: int = 24


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    key: str  # stable: the same situation always gives the same key (deduplication)
    kind: str
    project: str
    day: dt.date
    title: str
    text: str
    fields: dict[str, Any]


def _midnight(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _matches(rule: Rule, project: str) -> bool:
    return any(fnmatch.fnmatchcase(project, _norm(p)) for p in rule.projects)


def _range(first: dt.date, last: dt.date, project: str | None = None) -> Query:
    return Query(since=_midnight(first), until=_midnight(last + dt.timedelta(days=1)), project=project)


def _spike_drop(con: duckdb.DuckDBPyConnection, rule: Rule, day: dt.date) -> list[Alert]:
    first = day - dt.timedelta(days=rule.baseline_days)
    per: dict[str, dict[dt.date, int]] = {}
    for r in downloads_daily(con, _range(first, day)):
        d = per.setdefault(r.project, {})
        d[r.day] = d.get(r.day, 0) + r.downloads
    out = []
    for project, days in sorted(per.items()):
        if not _matches(rule, project):
            continue
        now = days.get(day, 0)
        mean = sum(n for d, n in days.items() if d < day) / rule.baseline_days
        if rule.kind == "spike":
            fire = now >= rule.min_downloads and now >= rule.factor * mean
            title = f"{project}: downloads spiked on {day}"
        else:
            fire = mean >= rule.min_downloads and now <= mean / rule.factor
            title = f"{project}: downloads dropped on {day}"
        if fire:
            text = f"{now} downloads on {day}, against {mean:.1f} a day over the {rule.baseline_days} days before."
            fields = {"downloads": now, "baseline_mean": round(mean, 2), "baseline_days": rule.baseline_days}
            out.append(Alert(key=f"{rule.kind}:{project}:{day}", kind=rule.kind, project=project, day=day,
                             title=title, text=text, fields=fields))  # fmt: skip
    return out


def _projects(con: duckdb.DuckDBPyConnection, rule: Rule, first: dt.date, day: dt.date) -> list[str]:
    names = {r.project for r in downloads_daily(con, _range(first, day)) if r.downloads}
    return sorted(p for p in names if _matches(rule, p))


def _new_org(con: duckdb.DuckDBPyConnection, rule: Rule, day: dt.date) -> list[Alert]:
    first = day - dt.timedelta(days=rule.baseline_days)
    out = []
    for project in _projects(con, rule, first, day):
        before = breakdown(con, _range(first, day - dt.timedelta(days=1), project), "org")
        if not any(r.downloads for r in before):
            continue  # no baseline: a project's first days are not news
        known = {r.value for r in before if r.requests}
        for r in breakdown(con, _range(day, day, project), "org"):
            if r.value is None or r.value in known or not r.downloads:
                continue
            out.append(
                Alert(
                    key=f"new-org:{project}:{r.value}", kind="new-org", project=project, day=day,
                    title=f"{project}: a new organisation, {r.value}",
                    text=f"{r.value} downloaded {project} on {day} ({r.downloads} downloads, {r.sources} sources); "
                    f"it had not requested it in the {rule.baseline_days} days before.",
                    fields={"org": r.value, "downloads": r.downloads, "sources": r.sources},
                )
            )  # fmt: skip
    return out


def _aggressive(con: duckdb.DuckDBPyConnection, rule: Rule, day: dt.date) -> list[Alert]:
    out = []
    for project in _projects(con, rule, day, day):
        rows = [
            r for r in heavy_hitters(con, _range(day, day, project), 1, rule.max_file_per_day) if r.aggressive
        ]
        if not rows:
            continue
        worst = max(r.max_file_downloads for r in rows)
        out.append(
            Alert(
                key=f"aggressive:{project}:{day}", kind="aggressive", project=project, day=day,
                title=f"{project}: {len(rows)} aggressive source(s) on {day}",
                text=f"{len(rows)} source(s) downloaded one file of {project} more than {rule.max_file_per_day} "
                f"times on {day} (at most {worst} times): a client without a cache, a retry loop or a "
                "deploy updating too often. See the heavy hitters of that day.",
                fields={"sources": len(rows), "max_file_downloads": worst, "downloads": sum(r.downloads for r in rows)},
            )
        )  # fmt: skip
    return out


def _release(con: duckdb.DuckDBPyConnection, rule: Rule, day: dt.date) -> list[Alert]:
    out = []
    seen = first_seen(con, _range(day, day))
    starts: dict[str, dt.date] = {}
    for r in seen:
        starts[r.project] = min(starts.get(r.project, r.first_seen), r.first_seen)
    for r in seen:
        if r.first_seen != day or starts[r.project] >= day or not _matches(rule, r.project):
            continue
        row = next(
            (a for a in adoption(con, _range(day, day, r.project)) if a.version == r.version),
            None,
        )
        dls, installs, share = (row.downloads, row.installs, row.share) if row else (0, 0, 0.0)
        out.append(
            Alert(
                key=f"release:{r.project}:{r.version}", kind="release", project=r.project, day=day,
                title=f"{r.project} {r.version}: first day",
                text=f"{r.project} {r.version} was first requested on {day}: {dls} downloads, {installs} installs, "
                f"{share:.0%} of the project's downloads that day.",
                fields={"version": r.version, "downloads": dls, "installs": installs, "share": share},
            )
        )  # fmt: skip
    return out


_RULES: Final = {
    "spike": _spike_drop,
    "drop": _spike_drop,
    "new-org": _new_org,
    "aggressive": _aggressive,
    "release": _release,
}


def evaluate(
    con: duckdb.DuckDBPyConnection, rules: Sequence[Rule], today: dt.date
) -> list[tuple[int, Alert]]:
    """(rule index, alert) for every rule that fires on the last complete day before `today`."""
    day = today - dt.timedelta(days=1)
    return [(i, a) for i, rule in enumerate(rules) for a in _RULES[rule.kind](con, rule, day)]
