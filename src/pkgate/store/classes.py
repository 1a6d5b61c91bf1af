"""Behaviour class rules: one definition, evaluated in Python and compiled to SQL.

They live in the store layer because the rollups store each source-day's class (with the default
thresholds) so that dashboard summaries need not classify millions of rows per query; the
definitions and the rationale are in `pkgate.insights.behaviour` and docs/insights.md.
"""

from __future__ import annotations

import operator
from typing import Final

import msgspec

CLASSES: Final = ("mirror", "bot", "polling", "ci", "one-off", "developer")
#: The classes reports leave out by default (a switch puts them back): not people installing.
EXCLUDED: Final = ("mirror", "bot", "ci")
#: Features of the whole source-day (all its projects), as opposed to one project's runs: the
#: exclusion of a source from reports is decided from these alone, once per source and day.
SOURCE_FEATURES: Final = frozenset(
    {"mirror_ua", "bot_ua", "ci", "projects", "download_projects", "files_per_project", "missing_share"}
)


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    #: A walk over this many projects in a day is a mirror whatever it downloads (one install of a
    #: large environment, e.g. `pip install jupyter`, touches about 100).
    mirror_projects: int = 500
    #: ... or a walk over at least `walk_projects` projects downloading on average at least
    #: `walk_files` distinct files of each (an install downloads one file per project).
    walk_projects: int = 5
    walk_files: float = 3.0
    #: A bot probes names: at least `probe_projects` projects, at least `probe_missing` of them 404.
    probe_projects: int = 20
    probe_missing: float = 0.5
    poll_min_runs: int = 4
    poll_regularity: float = 0.8
    poll_revalidated: float = 0.5
    poll_max_versions: int = 1
    ci_fresh: float = 0.5
    oneoff_max_runs: int = 2


class Features(msgspec.Struct, frozen=True, kw_only=True):
    requests: int
    runs: int
    download_runs: int
    downloads: int
    not_modified: int
    versions: int
    projects: int
    mirror_ua: bool
    ci: bool
    regularity: float | None
    cv: float | None
    bot_ua: bool = False
    download_projects: int = 0
    files: int = 0
    missing: int = 0

    @property
    def revalidated(self) -> float | None:
        return self.not_modified / self.requests if self.requests else None

    @property
    def fresh(self) -> float | None:
        return self.download_runs / self.runs if self.runs else None

    @property
    def files_per_project(self) -> float | None:
        return self.files / self.download_projects if self.download_projects else None

    @property
    def missing_share(self) -> float | None:
        return self.missing / self.projects if self.projects else None


Cond = tuple[str, str, float | int | bool]
Rule = tuple[str, tuple[tuple[Cond, ...], ...]]  # class, alternatives (OR) of conditions (AND)


def rules(t: Thresholds = Thresholds()) -> tuple[Rule, ...]:  # noqa: B008 - frozen, immutable
    regular: tuple[Cond, ...] = (("runs", ">=", t.poll_min_runs), ("regularity", ">=", t.poll_regularity))
    return (
        (
            "mirror",
            (
                (("mirror_ua", "==", True),),
                (("projects", ">=", t.mirror_projects),),
                (("download_projects", ">=", t.walk_projects), ("files_per_project", ">=", t.walk_files)),
            ),
        ),
        (
            "bot",
            (
                (("bot_ua", "==", True),),
                (("projects", ">=", t.probe_projects), ("missing_share", ">=", t.probe_missing)),
            ),
        ),
        (
            "polling",
            (
                (
                    *regular,
                    ("revalidated", ">=", t.poll_revalidated),
                    ("versions", "<=", t.poll_max_versions),
                ),
            ),
        ),
        ("ci", ((("ci", "==", True),), (*regular, ("fresh", ">=", t.ci_fresh)))),
        ("one-off", ((("runs", "<=", t.oneoff_max_runs),),)),
        ("developer", ((),)),
    )


_OPS: Final = {">=": operator.ge, "<=": operator.le, "==": operator.eq}


def classify_features(f: Features, t: Thresholds = Thresholds()) -> str:  # noqa: B008
    """The first rule whose conditions all hold (a missing feature fails its condition)."""
    for name, alternatives in rules(t):
        if any(_holds(f, conds) for conds in alternatives):
            return name
    return "developer"  # unreachable: the last rule always matches


def automated_rules(t: Thresholds = Thresholds()) -> tuple[tuple[Cond, ...], ...]:  # noqa: B008
    """The alternatives of the `EXCLUDED` classes that look at source-day features only.

    A source-day matching one is left out of reports by default, on all its projects: a mirror,
    a bot or a CI runner (by its User-Agent's CI flag or a CI provider's address range). The
    per-project `ci` rule (regular fresh runs) is not among them: it needs one project's runs.
    """
    return tuple(
        conds
        for name, alternatives in rules(t)
        if name in EXCLUDED
        for conds in alternatives
        if conds and all(feat in SOURCE_FEATURES for feat, _, _ in conds)
    )


def _holds(f: Features, conds: tuple[Cond, ...]) -> bool:
    values = [(getattr(f, feat), op, v) for feat, op, v in conds]
    return all(x is not None and _OPS[op](x, v) for x, op, v in values)


def is_automated(f: Features, t: Thresholds = Thresholds()) -> bool:  # noqa: B008
    """Whether reports leave this source-day out by default (see `automated_rules`)."""
    return any(_holds(f, conds) for conds in automated_rules(t))


def _literal(v: float | int | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(float(v)) if isinstance(v, float) else str(int(v))


def _alternatives_sql(alternatives: tuple[tuple[Cond, ...], ...]) -> str:
    alts = [
        " AND ".join(f"{feat} {'=' if op == '==' else op} {_literal(v)}" for feat, op, v in c) or "true"
        for c in alternatives
    ]
    return " OR ".join(f"({a})" for a in alts) or "false"


def class_sql(t: Thresholds = Thresholds()) -> str:  # noqa: B008
    """`rules(t)` as a SQL CASE over the feature columns (+ `revalidated`, `fresh`,
    `files_per_project`, `missing_share`)."""
    whens = [f"WHEN {_alternatives_sql(alts)} THEN '{name}'" for name, alts in rules(t)]
    return f"CASE {' '.join(whens)} END"


def automated_sql(t: Thresholds = Thresholds()) -> str:  # noqa: B008
    """`is_automated` as a SQL boolean over source-day feature columns (NULL features: false)."""
    return f"coalesce({_alternatives_sql(automated_rules(t))}, false)"
