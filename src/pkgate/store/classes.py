"""Behaviour class rules: one definition, evaluated in Python and compiled to SQL.

They live in the store layer because the rollups store each source-day's class (with the default
thresholds) so that dashboard summaries need not classify millions of rows per query; the
definitions and the rationale are in `pkgate.insights.behaviour` and docs/insights.md.
"""

from __future__ import annotations

import operator
from typing import Final

import msgspec

CLASSES: Final = ("mirror", "polling", "ci", "one-off", "developer")


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    mirror_projects: int = 20
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

    @property
    def revalidated(self) -> float | None:
        return self.not_modified / self.requests if self.requests else None

    @property
    def fresh(self) -> float | None:
        return self.download_runs / self.runs if self.runs else None


Cond = tuple[str, str, float | int | bool]
Rule = tuple[str, tuple[tuple[Cond, ...], ...]]  # class, alternatives (OR) of conditions (AND)


def rules(t: Thresholds = Thresholds()) -> tuple[Rule, ...]:  # noqa: B008 - frozen, immutable
    regular: tuple[Cond, ...] = (("runs", ">=", t.poll_min_runs), ("regularity", ">=", t.poll_regularity))
    return (
        ("mirror", ((("mirror_ua", "==", True),), (("projects", ">=", t.mirror_projects),))),
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
        for conds in alternatives:
            values = [(getattr(f, feat), op, v) for feat, op, v in conds]
            if all(x is not None and _OPS[op](x, v) for x, op, v in values):
                return name
    return "developer"  # unreachable: the last rule always matches


def _literal(v: float | int | bool) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(float(v)) if isinstance(v, float) else str(int(v))


def class_sql(t: Thresholds = Thresholds()) -> str:  # noqa: B008
    """`rules(t)` as a SQL CASE over the feature columns (+ `revalidated`, `fresh`)."""
    whens = []
    for name, alternatives in rules(t):
        alts = [
            " AND ".join(f"{feat} {'=' if op == '==' else op} {_literal(v)}" for feat, op, v in c) or "true"
            for c in alternatives
        ]
        whens.append(f"WHEN {' OR '.join(f'({a})' for a in alts)} THEN '{name}'")
    return f"CASE {' '.join(whens)} END"
