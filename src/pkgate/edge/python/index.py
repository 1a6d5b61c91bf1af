"""Python index pages: `/simple/` and `/simple/<project>/`, in the negotiated PEP 691 type.

File URLs (and PEP 740 provenance URLs) are rewritten to signed gateway links; the rest of the
upstream's document is kept (docs/pages.md). Project names are PEP 503-normalised (a non-normal
spelling is redirected to the normal one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote, unquote, unquote_plus

from pkgate.edge import links, negotiate, pages
from pkgate.edge import render as pages_render
from pkgate.edge.answers import document, redirect, text
from pkgate.edge.ecosystem import INDEX_MISS, INDEX_PROJECT, Answer, Facts, Request, Response
from pkgate.edge.failover import NoRoute
from pkgate.edge.metrics import Metrics
from pkgate.edge.names import is_valid_project_name, normalize
from pkgate.edge.python.table import Resolved, Table
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["Index", "format_param", "project_url"]

_RENDER_PROJECT: Final = {
    negotiate.JSON_V1: pages_render.render_project_json,
    negotiate.HTML_V1: pages_render.render_project_html,
    negotiate.HTML_LEGACY: pages_render.render_project_html,
}
_RENDER_ROOT: Final = {
    negotiate.JSON_V1: pages_render.render_root_json,
    negotiate.HTML_V1: pages_render.render_root_html,
    negotiate.HTML_LEGACY: pages_render.render_root_html,
}


def project_url(name: str) -> str:
    return f"/simple/{quote(normalize(name), safe='')}/"


class Index:
    """Answers index page requests from one routing table."""

    def __init__(self, table: Table, signer: links.LinkSigner, metrics: Metrics, cache_control: str) -> None:
        self.table = table
        self.signer = signer
        self.metrics = metrics
        self.cache_control = cache_control

    async def project(self, rest: str, request: Request, facts: Facts) -> Answer:
        """The page and its kind: `index-miss` for a project no route serves (no upstream asked)."""
        return Answer(*await self._project(rest, request, facts))

    async def _project(self, rest: str, request: Request, facts: Facts) -> tuple[Response, str]:
        query, headers = request.query, request.headers
        raw, slash, extra = rest.partition("/")
        name = unquote(raw)
        if extra or not is_valid_project_name(name):
            return text(404, "not found: not a valid project name"), INDEX_PROJECT
        canonical = normalize(name)
        facts.project = canonical
        if raw != canonical or not slash:
            return redirect(301, project_url(canonical), query), INDEX_PROJECT
        ctype = negotiate.negotiate(headers.get("accept"), format_param(query))
        if ctype is None:
            return _not_acceptable(), INDEX_PROJECT
        try:
            got = await self.table.project(canonical)
        except NoRoute:
            return text(404, f"no such project: {canonical} (no route)"), INDEX_MISS
        except UpstreamNotFound:
            return text(404, f"no such project: {canonical}"), INDEX_PROJECT
        except UpstreamError as exc:
            return text(502, f"upstream error: {exc}"), INDEX_PROJECT
        signer = self.signer
        owner = got.link_upstream
        served_by = got.upstream

        def link(f: pages.FileLink) -> str:
            up = owner(f) if owner is not None else served_by
            return signer.make(canonical, f.filename, f"{up} {f.url}")

        def provenance(f: pages.FileLink) -> str:
            up = owner(f) if owner is not None else served_by
            return signer.make(canonical, f.filename + links.PROVENANCE_SUFFIX, f"{up} {f.provenance}")

        render_page = _RENDER_PROJECT[ctype]
        return self._page(
            got, ctype, lambda p: render_page(p, link, provenance), request, facts
        ), INDEX_PROJECT

    async def root(self, request: Request, facts: Facts) -> Response:
        ctype = negotiate.negotiate(request.headers.get("accept"), format_param(request.query))
        if ctype is None:
            return _not_acceptable()
        try:
            got = await self.table.root()
        except UpstreamError as exc:
            return text(502, f"upstream error: {exc}")
        render_root = _RENDER_ROOT[ctype]
        return self._page(got, ctype, lambda p: render_root(p, project_url), request, facts)

    def _page(
        self, got: Resolved, ctype: str, render: Callable[[Any], bytes], request: Request, facts: Facts
    ) -> Response:
        """A page answer (200 or 304) in the negotiated type; notes where it came from."""
        entry, state = got.entry, got.state
        self.metrics.cache_state(state)
        facts.upstream = got.upstream
        facts.cache = state
        facts.failover = got.failover
        body, etag = entry.body(ctype, render)
        headers = request.headers
        return document(
            body,
            etag,
            ctype if ctype != negotiate.HTML_LEGACY else "text/html; charset=utf-8",
            state=state,
            cache_control=self.cache_control,
            last_modified=entry.last_modified,
            inm=headers.get("if-none-match"),
            ims=headers.get("if-modified-since"),
            facts=facts,
        )


def format_param(query: str) -> str | None:
    """The PEP 691 `?format=` value; bounded work, never raises (other parameters are ignored)."""
    if not query or "format=" not in query:
        return None
    for part in query.split("&", 64)[:64]:
        if part.startswith("format="):
            return unquote_plus(part[len("format=") :])
    return None


def _not_acceptable() -> Response:
    return text(
        406,
        "not acceptable: this index serves " + ", ".join(_RENDER_PROJECT),
        [("vary", "Accept")],
    )
