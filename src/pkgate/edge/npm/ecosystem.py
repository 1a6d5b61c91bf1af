"""The npm registry API under `/npm/` (`registry=https://<host>/npm/` in `.npmrc`).

Served: packuments `GET /npm/<name>` (scoped as `@scope%2fname` or `@scope/name`), full or
abbreviated by the client's `Accept`; version documents `GET /npm/<name>/<version|tag>`;
`GET /npm/-/package/<name>/dist-tags`; tarballs through signed links
`/npm/<name>/-/<token>/<file>` and through npm's conventional `/npm/<name>/-/<file>.tgz`
(looked up in the packument); `GET /npm/-/ping`. Every other `/npm/-/...` endpoint (audit,
search, login, whoami) answers 404 and any write (publish, unpublish, dist-tag changes) 405:
npm reports those and an install carries on (audit is a warning). Nothing is proxied there,
because an audit request would tell the public registry every private package name.

Kinds: packuments, version documents and dist-tags are `index-project` (resolution: attempts),
tarballs `file` (a GET answered with a redirect is a download), names no route claims
`index-miss`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final
from urllib.parse import unquote

import httpx
import msgspec

from pkgate import config as config_mod
from pkgate.config import Config, Gateway
from pkgate.edge.answers import document, method_not_allowed, text
from pkgate.edge.ecosystem import (
    FILE,
    INDEX_MISS,
    INDEX_PROJECT,
    OTHER,
    Answer,
    Build,
    Ecosystem,
    Facts,
    FileTarget,
    Paths,
    Request,
    Response,
)
from pkgate.edge.failover import NoRoute, UpstreamHandle, first_of
from pkgate.edge.handles import build_handles
from pkgate.edge.links import LinkSigner
from pkgate.edge.metrics import Metrics
from pkgate.edge.npm import packument as pk
from pkgate.edge.npm.cache import ABBREVIATED, FULL, DocCache, Fetched, Rendered
from pkgate.edge.routing import Router
from pkgate.errors import ConfigError, UpstreamError, UpstreamNotFound

__all__ = ["MODULE", "NpmEcosystem", "NpmModule"]

Handle = UpstreamHandle[DocCache]
_JSON: Final = [("content-type", "application/json")]
_ABBREVIATED_TYPE: Final = "application/vnd.npm.install-v1+json"
_TAGS: Final = "-/package/"
_TAGS_END: Final = "/dist-tags"


def _error(status: int, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    """npm prints a registry's `error` field; a JSON body says why in its own words."""
    return Response(status, _JSON + (extra or []), msgspec.json.encode({"error": message}))


class NpmEcosystem:
    """Packuments from the routed npm upstreams, and the tarballs they list."""

    name: Final = "npm"

    def __init__(
        self,
        router: Router | None,
        handles: dict[str, Handle],
        signer: LinkSigner,
        metrics: Metrics,
        cache_ttl: float,
    ) -> None:
        self.router = router
        self.handles = handles
        self.signer = signer
        self.metrics = metrics
        self.cache_control = f"max-age={int(cache_ttl)}, public"
        self.proxied = {n: h for n, h in handles.items() if h.mode == "proxy"}
        # A config that gives npm nothing claims no path: `/npm/...` is then the gateway's 404.
        self.paths = Paths(exact=("/npm",), prefixes=(pk.PREFIX,)) if router is not None else Paths()

    @property
    def upstreams(self) -> Mapping[str, Handle]:
        return self.handles

    async def handle(self, request: Request, facts: Facts) -> Answer:
        rest = request.path[len(pk.PREFIX) :]
        tags = rest.startswith(_TAGS) and rest.endswith(_TAGS_END)
        if (rest.startswith("-/") and not tags) or request.path == "/npm" or not rest:
            return Answer(self._special(rest, request), OTHER)
        where = pk.parse_path(rest[len(_TAGS) : -len(_TAGS_END)] if tags else rest)
        if where is None or (tags and where.tail):
            return Answer(_error(404, "not found: not an npm package name"), OTHER)
        name, tail = where
        facts.project = name
        kind = FILE if tail[:1] == ("-",) else INDEX_PROJECT
        if request.method not in ("GET", "HEAD"):
            return Answer(method_not_allowed(), kind)
        if len(tail) == 3 and tail[0] == "-":
            return Answer(self._signed(name, tail[1], tail[2]), FILE)
        if self.router is None or self.router.route(config_mod.normalize_name("npm", name)) is None:
            return Answer(_error(404, f"not found: {name} (no route)"), INDEX_MISS)
        if tags:
            return await self._dist_tags(name, request, facts)
        if not tail:
            return await self._packument(name, request, facts)
        if len(tail) == 2 and tail[0] == "-":
            return await self._tarball(name, unquote(tail[1]), facts)
        if len(tail) == 1 and pk.valid_version(unquote(tail[0])):
            return await self._version(name, unquote(tail[0]), request, facts)
        return Answer(_error(404, "not found"), kind)

    # ---- documents ------------------------------------------------------------------------------

    async def _fetch(self, name: str, accept: str, facts: Facts) -> Fetched:
        route = self.router.route(config_mod.normalize_name("npm", name)) if self.router else None
        if route is None:
            raise NoRoute(name)
        path = pk.upstream_path(name)
        handles = [self.handles[n] for n in route.upstreams]
        pick = await first_of(
            handles,
            lambda cache: cache.get(path, accept),
            lambda cache: cache.stale(path, accept),
            self._note,
            f"package {name!r}",
        )
        if pick.position > 0:
            self.metrics.failover(route.upstreams[0], pick.name)
        self.metrics.cache_state(pick.got.state)
        facts.upstream = pick.name
        facts.cache = pick.got.state
        facts.failover = pick.position > 0
        return pick.got

    def _note(self, up: Handle, got: Fetched | None, failed: bool) -> None:
        if failed:
            self.metrics.upstream(up.name, None, True)
        elif got is not None and got.latency is not None:
            self.metrics.upstream(up.name, got.latency, False)

    async def _document(
        self, name: str, accept: str, request: Request, facts: Facts
    ) -> tuple[Fetched, str] | Response:
        base = pk.base_url(request.headers.get("host"), request.headers.get("x-forwarded-proto"))
        if base is None:
            return text(400, "bad Host header")
        try:
            return await self._fetch(name, accept, facts), base
        except UpstreamNotFound:
            return _error(404, f"not found: {name}")
        except UpstreamError as exc:
            return _error(502, f"upstream error: {exc}")

    def _answer(self, got: Fetched, body: Rendered, ctype: str, request: Request, facts: Facts) -> Response:
        headers = request.headers
        return document(
            body.body,
            body.etag,
            ctype,
            state=got.state,
            cache_control=self.cache_control,
            last_modified=got.doc.last_modified,
            inm=headers.get("if-none-match"),
            ims=headers.get("if-modified-since"),
            facts=facts,
        )

    async def _packument(self, name: str, request: Request, facts: Facts) -> Answer:
        accept = ABBREVIATED if _ABBREVIATED_TYPE in (request.headers.get("accept") or "") else FULL
        found = await self._document(name, accept, request, facts)
        if isinstance(found, Response):
            return Answer(found, INDEX_PROJECT)
        got, base = found
        link = pk.link_maker(self.signer, base, name, facts.upstream or "")
        body = got.doc.body(base, lambda data: pk.rewrite_packument(data, link))
        return Answer(self._answer(got, body, got.doc.content_type, request, facts), INDEX_PROJECT)

    async def _version(self, name: str, wanted: str, request: Request, facts: Facts) -> Answer:
        found = await self._document(name, FULL, request, facts)
        if isinstance(found, Response):
            return Answer(found, INDEX_PROJECT)
        got, base = found
        data = got.doc.data
        tags = data.get("dist-tags")
        version = tags.get(wanted, wanted) if isinstance(tags, dict) else wanted
        versions = data.get("versions")
        manifest = versions.get(version) if isinstance(versions, dict) and isinstance(version, str) else None
        if manifest is None:
            return Answer(_error(404, f"not found: {name}@{wanted}"), INDEX_PROJECT)
        facts.version = version
        link = pk.link_maker(self.signer, base, name, facts.upstream or "")
        body = pk.rewrite_version(manifest, version, link)
        return Answer(self._answer(got, body, "application/json", request, facts), INDEX_PROJECT)

    async def _dist_tags(self, name: str, request: Request, facts: Facts) -> Answer:
        found = await self._document(name, FULL, request, facts)
        if isinstance(found, Response):
            return Answer(found, INDEX_PROJECT)
        got, _ = found
        tags = got.doc.data.get("dist-tags")
        body = pk.encode(tags if isinstance(tags, dict) else {})
        return Answer(self._answer(got, body, "application/json", request, facts), INDEX_PROJECT)

    # ---- tarballs -------------------------------------------------------------------------------

    def _signed(self, name: str, token: str, quoted: str) -> FileTarget | Response:
        signed = pk.verify(self.signer, name, token, quoted)
        if signed is None:
            return _error(404, "not found: unknown or tampered tarball link")
        facts = Facts(
            project=name, version=signed.version, filename=signed.filename, upstream=signed.upstream
        )
        return FileTarget(FILE, signed.url, facts, self.proxied.get(signed.upstream))

    async def _tarball(self, name: str, filename: str, facts: Facts) -> Answer:
        """npm's conventional tarball path (lock files of clients that derive tarball URLs from the
        registry): the version whose tarball has this file name, from the routed packument."""
        try:
            got = await self._fetch(name, FULL, facts)
        except UpstreamNotFound:
            return Answer(_error(404, f"not found: {name}"), FILE)
        except UpstreamError as exc:
            return Answer(_error(502, f"upstream error: {exc}"), FILE)
        versions = got.doc.data.get("versions")
        for version, manifest in versions.items() if isinstance(versions, dict) else ():
            dist = manifest.get("dist") if isinstance(manifest, dict) else None
            url = dist.get("tarball") if isinstance(dist, dict) else None
            if isinstance(url, str) and pk.tarball_name(name, version, url) == filename:
                upstream = facts.upstream or ""
                target = Facts(project=name, version=version, filename=filename, upstream=upstream)
                return Answer(FileTarget(FILE, url, target, self.proxied.get(upstream)), FILE)
        return Answer(_error(404, f"not found: {name}/-/{filename}"), FILE)

    # ---- the registry's own endpoints -----------------------------------------------------------

    def _special(self, rest: str, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            if rest.startswith("-/npm/v1/security/"):
                return _error(404, "pkgate does not serve security advisories (npm audit)")
            return method_not_allowed()
        if rest == "-/ping":
            return Response(200, _JSON, b"{}")
        return _error(
            404, f"pkgate does not serve /npm/{rest[:100]} (only installs: packuments and tarballs)"
        )


class NpmModule:
    name: Final = "npm"

    def build(self, build: Build, previous: Ecosystem | None) -> NpmEcosystem:
        cfg = build.cfg
        old = previous.handles if isinstance(previous, NpmEcosystem) else {}
        if not cfg.serves("npm"):
            return NpmEcosystem(None, {}, build.signer, build.metrics, cfg.gateway.cache_ttl)
        for i, rule in enumerate(cfg.routing.rules):
            if rule.ecosystem == "npm" and rule.merge:
                raise ConfigError("npm routes cannot merge registries", key=f"routing.rules[{i}].merge")
        handles = _handles(cfg, build.client, old)
        return NpmEcosystem(Router(cfg, "npm"), handles, build.signer, build.metrics, cfg.gateway.cache_ttl)


def _handles(cfg: Config, http: httpx.AsyncClient, previous: Mapping[str, Handle]) -> dict[str, Handle]:
    """A handle per npm upstream; clients and caches of unchanged upstreams are kept."""
    gw = cfg.gateway
    return build_handles(
        cfg,
        "npm",
        http,
        previous,
        lambda client: DocCache(client, gw.cache_ttl, gw.stale_ttl, cache_bytes=gw.cache_bytes),
        accept=lambda up: FULL,
        refresh=_refresh,
    )


def _refresh(cache: DocCache, gw: Gateway) -> None:
    cache.ttl, cache.stale_ttl, cache.cache_bytes = gw.cache_ttl, gw.stale_ttl, gw.cache_bytes


MODULE: Final = NpmModule()
