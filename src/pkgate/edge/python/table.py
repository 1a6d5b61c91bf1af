"""The Python ecosystem's routing table: its upstreams (page caches), rules, and how a page is got.

For a project, the route's upstreams are asked in order (`failover.first_of`); a `merge` route asks
all of them (`failover.each_of`) and serves the union of their files. The index root shows, per
route, only the names that route to it.

The table is immutable once built; a reload builds a new one (reusing clients and caches of
unchanged upstreams) and the ecosystem is swapped in with one assignment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import httpx

from pkgate.config import Config, Gateway
from pkgate.edge.failover import NoRoute, UpstreamHandle, each_of, first_of, worst_state
from pkgate.edge.handles import build_handles
from pkgate.edge.metrics import Metrics
from pkgate.edge.names import normalize
from pkgate.edge.pages import FileLink, ProjectPage, RootPage
from pkgate.edge.routing import Route, Router
from pkgate.edge.upstream import ACCEPT_BY_KIND, Entry, Fetched, PageCache
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["Handle", "Resolved", "Table", "build_table"]

Handle = UpstreamHandle[PageCache]


@dataclass
class Resolved:
    """A page to render: its entry, which upstream(s) served it, and the link for each file."""

    entry: Entry[Any]
    upstream: str
    state: str
    failover: bool
    link_upstream: Callable[[FileLink], str] | None = None  # merged pages: upstream per file


class _Merged(NamedTuple):
    """A merged page, the entries it was made from (held so their ids stay unique) and, per file,
    the upstream it came from."""

    sources: list[Entry[Any]]
    entry: Entry[Any]
    owner: dict[str, str]


class _Root(NamedTuple):
    """One route's share of the index root."""

    route: Route
    upstream: str
    got: Fetched[RootPage]


@dataclass(eq=False)
class Table:
    router: Router
    upstreams: dict[str, Handle]
    metrics: Metrics
    generation: int = 0
    proxied: dict[str, Handle] = field(init=False)
    # Merged pages by their source entries.
    _merged: dict[tuple[object, ...], _Merged] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.proxied = {name: up for name, up in self.upstreams.items() if up.mode == "proxy"}

    def _note(self, up: Handle, got: Fetched[Any] | None, failed: bool) -> None:
        if failed:
            self.metrics.upstream(up.name, None, True)
        elif got is not None and got.latency is not None:
            self.metrics.upstream(up.name, got.latency, False)

    def _handles(self, route: Route) -> list[Handle]:
        return [self.upstreams[name] for name in route.upstreams]

    # ---- project pages --------------------------------------------------------------------------

    async def project(self, project: str) -> Resolved:
        """The page for a normalised name; raises UpstreamNotFound (404) or UpstreamError (502)."""
        route = self.router.route(project)
        if route is None:
            raise NoRoute(f"no route for project {project!r}")
        if route.merge:
            return await self._merged_project(project, route)
        pick = await first_of(
            self._handles(route),
            lambda cache: cache.project(project),
            lambda cache: cache.stale_project(project),
            self._note,
            f"project {project!r}",
        )
        if pick.position > 0:
            self.metrics.failover(route.upstreams[0], pick.name)
        return Resolved(pick.got.entry, pick.name, pick.got.state, pick.position > 0)

    async def _merged_project(self, project: str, route: Route) -> Resolved:
        parts: list[tuple[str, Fetched[ProjectPage]]] = []
        for up in self._handles(route):
            try:
                got = await each_of(
                    up,
                    lambda cache: cache.project(project),
                    lambda cache: cache.stale_project(project),
                    self._note,
                )
            except UpstreamError as exc:
                raise UpstreamError(f"merge of {'+'.join(route.upstreams)} incomplete: {exc}") from None
            if got is not None:
                parts.append((up.name, got))
        if not parts:
            raise UpstreamNotFound(f"no upstream of the route has project {project!r}")
        if len(parts) == 1:
            name, got = parts[0]
            return Resolved(got.entry, name, got.state, False)
        key = ("project", project, *(id(got.entry) for _, got in parts))
        hit = self._merged.get(key)
        if hit is None:
            entry, owner = _merge_projects(project, parts)
            self._remember(key, _Merged([got.entry for _, got in parts], entry, owner))
        else:
            entry, owner = hit.entry, hit.owner
        state = worst_state([got.state for _, got in parts])
        names = "+".join(name for name, _ in parts)
        return Resolved(entry, names, state, False, lambda f: owner[f.filename])

    def _remember(self, key: tuple[object, ...], merged: _Merged) -> None:
        if len(self._merged) > 1000:
            self._merged.clear()
        self._merged[key] = merged

    # ---- the index root -------------------------------------------------------------------------

    async def root(self) -> Resolved:
        """What the routes allow: each route's root(s), keeping only names that route to it."""
        chosen: list[_Root] = []
        failover = False
        for route in self.router.routes:
            if not route.merge:
                pick = await first_of(self._handles(route), _root, _stale_root, self._note, "an index root")
                chosen.append(_Root(route, pick.name, pick.got))
                failover = failover or pick.position > 0
                continue
            for up in self._handles(route):
                got = await each_of(up, _root, _stale_root, self._note)
                if got is None:  # a root is never "not found": its 404 is an error
                    raise UpstreamError(f"{up.name}: no index root")
                chosen.append(_Root(route, up.name, got))
        if len(chosen) == 1 and self.router.routes == [self.router.default]:
            entry: Entry[Any] = chosen[0].got.entry  # no rules: nothing to filter
        else:
            key = ("root", *(id(c.got.entry) for c in chosen))
            hit = self._merged.get(key)
            if hit is None:
                entry = self._merge_roots(chosen)
                self._remember(key, _Merged([c.got.entry for c in chosen], entry, {}))
            else:
                entry = hit.entry
        state = worst_state([c.got.state for c in chosen])
        used = ",".join(dict.fromkeys(c.upstream for c in chosen))
        return Resolved(entry, used, state, failover)

    def _merge_roots(self, chosen: list[_Root]) -> Entry[RootPage]:
        lookup = self.router.lookup
        seen: dict[str, str] = {}
        for route, _, got in chosen:
            for name in got.entry.page.projects:
                norm = normalize(name) if not _is_normal(name) else name
                if norm not in seen and lookup(norm) is route:
                    seen[norm] = name
        projects = [seen[k] for k in sorted(seen)]
        fetched = max((c.got.entry.fetched for c in chosen), default=0.0)
        return Entry(RootPage(projects), fetched, None, None)


def _root(cache: PageCache) -> Awaitable[Fetched[RootPage]]:
    return cache.root()


def _stale_root(cache: PageCache) -> Fetched[RootPage] | None:
    return cache.stale_root()


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


def refresh_cache(cache: PageCache, gw: Gateway) -> None:
    """A kept page cache takes the reloaded gateway settings."""
    cache.ttl, cache.stale_ttl, cache.cache_bytes = gw.cache_ttl, gw.stale_ttl, gw.cache_bytes


def build_table(
    cfg: Config,
    http: httpx.AsyncClient,
    metrics: Metrics,
    previous: Table | None = None,
    generation: int = 0,
) -> Table:
    """A routing table for `cfg`; raises ConfigError (e.g. a credential variable is not set)."""
    handles = build_handles(
        cfg,
        "python",
        http,
        previous.upstreams if previous is not None else None,
        lambda client: PageCache(
            client, cfg.gateway.cache_ttl, cfg.gateway.stale_ttl, cache_bytes=cfg.gateway.cache_bytes
        ),
        accept=lambda up: ACCEPT_BY_KIND[up.kind],
        refresh=refresh_cache,
        signed=lambda up: (up.kind,),
    )
    return Table(Router(cfg), handles, metrics, generation)
