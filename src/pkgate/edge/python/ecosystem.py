"""The Python ecosystem behind the interface of `pkgate.edge.ecosystem`.

Which upstream serves a page is the routing table's business (`python.table.Table`, rebuilt on a
reload with the caches of unchanged upstreams kept). File links sign `"<upstream> <url>"`, so a
file request knows, without any lookup but one dict, which upstream it belongs to and whether that
upstream is proxied.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from pkgate.edge import links
from pkgate.edge.answers import method_not_allowed, redirect, text
from pkgate.edge.ecosystem import (
    FILE,
    INDEX_PROJECT,
    INDEX_ROOT,
    METADATA,
    OTHER,
    Answer,
    Build,
    Ecosystem,
    Facts,
    Paths,
    Request,
)
from pkgate.edge.metrics import Metrics
from pkgate.edge.python.files import resolve_file
from pkgate.edge.python.index import Index
from pkgate.edge.python.table import Handle, Table, build_table

__all__ = ["MODULE", "PythonEcosystem", "PythonModule"]

_SIMPLE: Final = "/simple/"


class PythonEcosystem:
    """PEP 503/691 pages from the routed upstreams, and the files they link to."""

    name: Final = "python"
    paths: Final = Paths(exact=("/", "/simple"), prefixes=(_SIMPLE, links.PREFIX))

    def __init__(self, table: Table, signer: links.LinkSigner, metrics: Metrics, cache_ttl: float) -> None:
        self.table = table
        self.signer = signer
        self._index = Index(table, signer, metrics, f"max-age={int(cache_ttl)}, public")

    @property
    def upstreams(self) -> Mapping[str, Handle]:
        return self.table.upstreams

    async def handle(self, request: Request, facts: Facts) -> Answer:
        method, path = request.method, request.path
        if path.startswith(links.PREFIX):
            kind = METADATA if path.endswith((links.METADATA_SUFFIX, links.PROVENANCE_SUFFIX)) else FILE
            if method not in ("GET", "HEAD"):
                return Answer(method_not_allowed(), kind)
            return Answer(resolve_file(path, self.signer, self.table.proxied), kind)
        if path == "/":
            if method not in ("GET", "HEAD"):
                return Answer(text(404, "not found"), OTHER)
            return Answer(redirect(302, _SIMPLE), OTHER)
        rest = path[len(_SIMPLE) :]
        kind = INDEX_ROOT if rest == "" or path == "/simple" else INDEX_PROJECT
        if method not in ("GET", "HEAD"):
            return Answer(method_not_allowed(), kind)
        if kind == INDEX_ROOT:
            if path == "/simple":
                return Answer(redirect(301, _SIMPLE, request.query), kind)
            return Answer(await self._index.root(request, facts), kind)
        return await self._index.project(rest, request, facts)


class PythonModule:
    name: Final = "python"

    def build(self, build: Build, previous: Ecosystem | None) -> PythonEcosystem:
        old = previous.table if isinstance(previous, PythonEcosystem) else None
        table = build_table(build.cfg, build.client, build.metrics, old, build.generation)
        return PythonEcosystem(table, build.signer, build.metrics, build.cfg.gateway.cache_ttl)


MODULE: Final = PythonModule()
