"""One routing table: the upstreams of a config and how a page is got from a route.

For a project, the route's upstreams are asked in order. Timeouts, connection errors, 5xx, bad
pages and open circuit breakers move on to the next upstream; a 404 ends the search only when the
upstream that said it is `authoritative`, and is the answer only if nothing failed (an upstream
failure never becomes a 404). When every upstream fails, the freshest stale copy (in route order)
is served; when there is none, the caller answers 502. A `merge` route asks all its upstreams and
needs every one of them to answer, since a page missing the private half would be a wrong answer.

The table is immutable once built; a reload builds a new one (reusing caches of unchanged
upstreams) and the gateway swaps it in with one assignment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from pkgate.edge.breaker import Breaker
from pkgate.edge.client import UpstreamClient
from pkgate.edge.metrics import Metrics
from pkgate.edge.names import normalize
from pkgate.edge.pages import FileLink, ProjectPage, RootPage
from pkgate.edge.routing import Route, Router
from pkgate.edge.upstream import Entry, Fetched, PageCache
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["NoRoute", "Resolved", "Table", "UpstreamHandle"]

_WORST: Final = {"hit": 0, "revalidated": 1, "miss": 2, "stale": 3}


class NoRoute(UpstreamNotFound):
    """No rule claims the project and there is no default upstream."""


@dataclass(eq=False)
class UpstreamHandle:
    """One configured upstream as a worker uses it: its HTTP client and its page cache."""

    name: str
    client: UpstreamClient
    cache: PageCache
    mode: str  # "redirect" | "proxy"
    authoritative: bool
    signature: tuple[object, ...]  # what must stay equal for a reload to keep client and cache

    @property
    def breaker(self) -> Breaker:
        return self.client.breaker


@dataclass
class Resolved:
    """A page to render: its entry, which upstream(s) served it, and the link for each file."""

    entry: Entry[Any]
    upstream: str
    state: str
    failover: bool
    link_upstream: Callable[[FileLink], str] | None = None  # merged pages: upstream per file


@dataclass(eq=False)
class Table:
    router: Router
    upstreams: dict[str, UpstreamHandle]
    metrics: Metrics
    generation: int = 0
    proxied: dict[str, UpstreamHandle] = field(init=False)
    # Merged pages by their source entries (held here, so their ids cannot be reused meanwhile).
    _merged: dict[tuple[object, ...], tuple[list[Entry[Any]], Entry[Any], dict[str, str]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self.proxied = {name: up for name, up in self.upstreams.items() if up.mode == "proxy"}

    def _note(self, up: UpstreamHandle, got: Fetched[Any] | None, failed: bool) -> None:
        if failed:
            self.metrics.upstream(up.name, None, True)
        elif got is not None and got.latency is not None:
            self.metrics.upstream(up.name, got.latency, False)

    # ---- project pages --------------------------------------------------------------------------

    async def project(self, project: str) -> Resolved:
        """The page for a normalised name; raises UpstreamNotFound (404) or UpstreamError (502)."""
        route = self.router.route(project)
        if route is None:
            raise NoRoute(f"no route for project {project!r}")
        if route.merge:
            return await self._merged_project(project, route)
        failed: list[str] = []
        for i, name in enumerate(route.upstreams):
            up = self.upstreams[name]
            try:
                got = await up.cache.project(project)
            except UpstreamNotFound:
                if up.authoritative:
                    raise
                continue
            except UpstreamError as exc:
                self._note(up, None, True)
                failed.append(str(exc))
                continue
            self._note(up, got, False)
            if i > 0:
                self.metrics.failover(route.upstreams[0], name)
            return Resolved(got.entry, name, got.state, i > 0)
        if not failed:
            raise UpstreamNotFound(f"no upstream of the route has project {project!r}")
        for i, name in enumerate(route.upstreams):
            stale = self.upstreams[name].cache.stale_project(project)
            if stale is not None:
                if i > 0:
                    self.metrics.failover(route.upstreams[0], name)
                return Resolved(stale.entry, name, "stale", i > 0)
        raise UpstreamError("; ".join(failed))

    async def _merged_project(self, project: str, route: Route) -> Resolved:
        parts: list[tuple[str, Fetched[ProjectPage]]] = []
        for name in route.upstreams:
            up = self.upstreams[name]
            try:
                got = await up.cache.project(project)
            except UpstreamNotFound:
                continue
            except UpstreamError as exc:
                self._note(up, None, True)
                stale = up.cache.stale_project(project)
                if stale is None:
                    raise UpstreamError(f"merge of {'+'.join(route.upstreams)} incomplete: {exc}") from None
                got = stale
            else:
                self._note(up, got, False)
            parts.append((name, got))
        if not parts:
            raise UpstreamNotFound(f"no upstream of the route has project {project!r}")
        if len(parts) == 1:
            name, got = parts[0]
            return Resolved(got.entry, name, got.state, False)
        key = ("project", project, *(id(got.entry) for _, got in parts))
        hit = self._merged.get(key)
        if hit is None:
            entry, owner = _merge_projects(project, parts)
            self._remember(key, [got.entry for _, got in parts], entry, owner)
        else:
            entry, owner = hit[1], hit[2]
        state = max((got.state for _, got in parts), key=_WORST.__getitem__)
        names = "+".join(name for name, _ in parts)
        return Resolved(entry, names, state, False, lambda f: owner[f.filename])

    def _remember(
        self, key: tuple[object, ...], sources: list[Entry[Any]], entry: Entry[Any], owner: dict[str, str]
    ) -> None:
        if len(self._merged) > 1000:
            self._merged.clear()
        self._merged[key] = (sources, entry, owner)

    # ---- the index root -------------------------------------------------------------------------

    async def root(self) -> Resolved:
        """What the routes allow: each route's root(s), keeping only names that route to it."""
        chosen: list[tuple[Route, str, Fetched[RootPage]]] = []
        failover = False
        for route in self.router.routes:
            names = route.upstreams if route.merge else None
            if names is None:
                pick = await self._first_root(route)
                chosen.append(pick)
                failover = failover or pick[1] != route.upstreams[0]
            else:
                for name in names:
                    chosen.append((route, name, await self._one_root(name)))
        if len(chosen) == 1 and self.router.routes == [self.router.default]:
            entry: Entry[Any] = chosen[0][2].entry  # no rules: nothing to filter
        else:
            key = ("root", *(id(got.entry) for _, _, got in chosen))
            hit = self._merged.get(key)
            if hit is None:
                entry = self._merge_roots(chosen)
                self._remember(key, [got.entry for _, _, got in chosen], entry, {})
            else:
                entry = hit[1]
        state = max((got.state for _, _, got in chosen), key=_WORST.__getitem__, default="hit")
        used = ",".join(dict.fromkeys(name for _, name, _ in chosen))
        return Resolved(entry, used, state, failover)

    async def _one_root(self, name: str) -> Fetched[RootPage]:
        up = self.upstreams[name]
        try:
            got = await up.cache.root()
        except UpstreamError:
            self._note(up, None, True)
            stale = up.cache.stale_root()
            if stale is None:
                raise
            return stale
        self._note(up, got, False)
        return got

    async def _first_root(self, route: Route) -> tuple[Route, str, Fetched[RootPage]]:
        errors: list[str] = []
        for name in route.upstreams:
            up = self.upstreams[name]
            try:
                got = await up.cache.root()
            except UpstreamError as exc:
                self._note(up, None, True)
                errors.append(str(exc))
                continue
            self._note(up, got, False)
            return route, name, got
        for name in route.upstreams:
            stale = self.upstreams[name].cache.stale_root()
            if stale is not None:
                return route, name, stale
        raise UpstreamError("; ".join(errors))

    def _merge_roots(self, chosen: list[tuple[Route, str, Fetched[RootPage]]]) -> Entry[RootPage]:
        lookup = self.router.lookup
        seen: dict[str, str] = {}
        for route, _, got in chosen:
            for name in got.entry.page.projects:
                norm = normalize(name) if not _is_normal(name) else name
                if norm not in seen and lookup(norm) is route:
                    seen[norm] = name
        projects = [seen[k] for k in sorted(seen)]
        fetched = max((got.entry.fetched for _, _, got in chosen), default=0.0)
        return Entry(RootPage(projects), fetched, None, None)


def _is_normal(name: str) -> bool:
    return name.islower() and "_" not in name and "." not in name and "--" not in name


def _merge_projects(
    project: str, parts: list[tuple[str, Fetched[ProjectPage]]]
) -> tuple[Entry[ProjectPage], dict[str, str]]:
    """Union of the files by filename (on a clash the earlier upstream in the route wins), and
    which upstream each file came from."""
    files: list[FileLink] = []
    owner: dict[str, str] = {}
    versions: dict[str, None] | None = {}
    for name, got in parts:
        page = got.entry.page
        for f in page.files:
            if f.filename not in owner:
                owner[f.filename] = name
                files.append(f)
        if versions is not None and page.versions is not None:
            versions.update(dict.fromkeys(page.versions))
        else:
            versions = None
    merged = ProjectPage(project, files, list(versions) if versions is not None else None)
    return Entry(merged, max(got.entry.fetched for _, got in parts), None, None), owner
