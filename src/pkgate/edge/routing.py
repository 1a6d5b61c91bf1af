"""Which upstreams may serve a project: exact names first, then `*`/`?` patterns in file order.

A project claimed by a rule is looked up only in that rule's upstreams (in order, or merged when
the rule says so) and never falls through to the default upstream: that is what makes a private
name safe from dependency confusion. Each ecosystem has its own router over its own rules
(`Rule.ecosystem`) and default upstream. Python names and patterns compare PEP 503-normalised, so
`Acme_Lib`, `acme.lib` and `acme-lib` are one project for routing as they are for installers; the
other ecosystems compare lower-cased (`config.normalize_name`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from pkgate.config import Config, normalize_name

__all__ = ["Route", "Router", "normalize_pattern"]

_SEPARATORS: Final = re.compile(r"[-_.]+")
_CACHE_MAX: Final = 50_000


def normalize_pattern(pattern: str) -> str:
    """PEP 503 normalisation that leaves the glob characters `*` and `?` alone."""
    return _SEPARATORS.sub("-", pattern).lower()


@dataclass(frozen=True, eq=False)
class Route:
    """The upstreams that alone may serve the projects of one rule (identity matters: one per rule)."""

    upstreams: tuple[str, ...]
    merge: bool = False
    rule: int | None = None  # index in routing.rules; None for the default route


class Router:
    """Compiled routing rules; `route()` is memoised because names repeat and patterns cost a regex."""

    def __init__(self, cfg: Config, ecosystem: str = "python") -> None:
        """The router of `ecosystem`'s rules; names given to `route()` must be normalised the same
        way (`config.normalize_name`)."""
        self.ecosystem = ecosystem
        self.exact: dict[str, Route] = {}
        self.patterns: list[tuple[str, Route]] = []
        self.routes: list[Route] = []
        for i, rule in enumerate(cfg.routing.rules):
            if rule.ecosystem != ecosystem:
                continue
            route = Route(tuple(rule.upstreams), rule.merge, i)
            self.routes.append(route)
            for pattern in rule.projects:
                norm = normalize_name(ecosystem, pattern)
                if "*" in norm or "?" in norm:
                    self.patterns.append((norm, route))
                else:
                    self.exact.setdefault(norm, route)
        default = cfg.default_upstream(ecosystem)
        self.default: Route | None = Route((default,)) if default else None
        if self.default is not None:
            self.routes.append(self.default)
        # One regex, one group per pattern: the first alternative that matches the whole name wins.
        self._regex = (
            re.compile("|".join(f"({_glob(p)})" for p, _ in self.patterns)) if self.patterns else None
        )
        self._memo: dict[str, Route | None] = {}

    def route(self, project: str) -> Route | None:
        """The route of a normalised project name; None means no upstream may serve it (404)."""
        try:
            return self._memo[project]
        except KeyError:
            pass
        found = self.lookup(project)
        if len(self._memo) >= _CACHE_MAX:
            self._memo.clear()
        self._memo[project] = found
        return found

    def lookup(self, project: str) -> Route | None:
        """`route()` without the memo (for bulk filtering of index roots)."""
        hit = self.exact.get(project)
        if hit is not None:
            return hit
        if self._regex is not None:
            m = self._regex.fullmatch(project)
            if m is not None and m.lastindex is not None:
                return self.patterns[m.lastindex - 1][1]
        return self.default

    def upstream_names(self) -> list[str]:
        """Every upstream some route uses, in first-use order."""
        seen: dict[str, None] = {}
        for route in self.routes:
            for name in route.upstreams:
                seen.setdefault(name)
        return list(seen)


def _glob(pattern: str) -> str:
    """A normalised pattern as a regex without groups of its own (so group numbers map to rules)."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
