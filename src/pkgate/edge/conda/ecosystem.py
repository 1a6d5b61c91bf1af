"""The conda ecosystem: channels under `/conda/<channel>`, composed by routing, files redirected.

Documents (repodata and its forms, the shard index, shards, channeldata) are got through each
upstream's `DocCache` with failover and stale copies (`failover.first_of`), and answered with
ETag/304 (`answers.document`). With no routing rule for conda they pass through unchanged (a
CEP-15 `base_url` is the one rewrite); with rules each is composed from one part per route
(`repodata.py`), and a compressed repodata, which cannot be filtered cheaply, is answered 404 so
that the client falls back to the JSON. Package files are routed by the package name in their
filename and answered by a redirect to the routed upstream's file (`FileTarget`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Final, NamedTuple

import msgspec

from pkgate.config import Config, normalize_name
from pkgate.edge.answers import document, method_not_allowed, text
from pkgate.edge.conda import paths as cpaths
from pkgate.edge.conda.cache import DocCache, Got
from pkgate.edge.conda.files import Handle, derived_index, resolve_file
from pkgate.edge.conda.repodata import (
    Owner,
    Part,
    compose_channeldata,
    compose_index,
    compose_repodata,
    decode_json,
    encode_index,
    filenames,
    head_has_base_url,
    real_base,
)
from pkgate.edge.ecosystem import (
    FILE,
    INDEX_PROJECT,
    INDEX_ROOT,
    OTHER,
    Answer,
    Facts,
    FileTarget,
    Paths,
    Request,
    Response,
)
from pkgate.edge.failover import each_of, first_of, worst_state
from pkgate.edge.metrics import Metrics
from pkgate.edge.routing import Route, Router
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["CondaEcosystem", "Handle"]


_TYPES: Final = {
    "": "application/json",
    "zst": "application/zstd",
    "bz2": "application/x-bzip2",
    "msgpack": "application/vnd.msgpack+zstd",
}
_MEMO_MAX: Final = 256
_IMMUTABLE: Final = "public, max-age=31536000, immutable"


class _Source(NamedTuple):
    """One upstream document a composition used."""

    route: Route
    upstream: str
    got: Got
    failover: bool = False


class _Composed(NamedTuple):
    body: bytes
    etag: str
    sources: list[_Source]
    owners: dict[str, Owner]  # shard index only: sha256 hex -> source part and package name


_Fetch = Callable[[DocCache], Awaitable[Got]]
_Stale = Callable[[DocCache], Got | None]


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


class CondaEcosystem:
    """conda channels composed from the routed upstreams, and redirects to their files."""

    name: Final = "conda"
    paths: Final = Paths(prefixes=(cpaths.PREFIX,))

    def __init__(self, cfg: Config, upstreams: dict[str, Handle], metrics: Metrics, serving: bool) -> None:
        self.router = Router(cfg, "conda")
        self.upstreams = upstreams
        self.metrics = metrics
        self.serving = serving
        self.max_bytes = cfg.gateway.max_page_bytes
        self.cache_control = f"max-age={int(cfg.gateway.cache_ttl)}, public"
        # No rule: the default upstream's documents are served as they are.
        self.plain = self.router.routes == [self.router.default] and self.router.default is not None
        self._memo: dict[tuple[object, ...], _Composed] = {}
        self._memo_bytes = 0
        self.memo_bytes = cfg.gateway.cache_bytes

    async def handle(self, request: Request, facts: Facts) -> Answer:
        if not self.serving:
            return Answer(text(404, "not found: this gateway serves no conda channel"), OTHER)
        where = cpaths.parse_path(request.path)
        if where is None:
            return Answer(text(404, "not found: not a conda channel path"), OTHER)
        kind = {cpaths.FILE: FILE, cpaths.SHARD: INDEX_PROJECT}.get(where.what, INDEX_ROOT)
        if request.method not in ("GET", "HEAD"):
            return Answer(method_not_allowed(), kind)
        facts.platform = where.subdir or None
        try:
            if where.what == cpaths.FILE:
                return await resolve_file(self.router, self.upstreams, self.max_bytes, where, facts)
            if where.what == cpaths.SHARD:
                return await self._shard(where, request, facts)
            return Answer(await self._document(where, request, facts), kind)
        except UpstreamNotFound as exc:
            return Answer(text(404, f"not found: {exc}"), kind)
        except UpstreamError as exc:
            return Answer(text(502, f"upstream error: {exc}"), kind)

    # ---- documents ------------------------------------------------------------------------------

    async def _document(self, where: cpaths.CondaPath, request: Request, facts: Facts) -> Response:
        rel = where.channel + "/" + (where.subdir + "/" if where.subdir else "") + where.name
        codec = cpaths.REPODATA_NAMES.get(where.name, "")
        if where.what == cpaths.SHARD_INDEX:
            composed = await self._index(where)
            ctype = _TYPES["msgpack"]
        elif codec:
            composed = await self._compressed(rel, codec)
            ctype = _TYPES[codec]
        else:
            composed = await self._json(rel, where.what == cpaths.CHANNELDATA)
            ctype = _TYPES[""]
        return self._answer(composed, ctype, request, facts)

    def _answer(
        self, composed: _Composed, ctype: str, request: Request, facts: Facts, cache_control: str = ""
    ) -> Response:
        sources = composed.sources
        state = worst_state([s.got.state for s in sources])
        self.metrics.cache_state(state)
        facts.cache = state
        facts.upstream = ",".join(dict.fromkeys(s.upstream for s in sources))
        facts.failover = any(s.failover for s in sources)
        last = [s.got.doc.last_modified for s in sources]
        return document(
            composed.body,
            composed.etag,
            ctype,
            state=state,
            cache_control=cache_control or self.cache_control,
            last_modified=last[0] if len(last) == 1 else None,
            inm=request.headers.get("if-none-match"),
            ims=request.headers.get("if-modified-since"),
            facts=facts,
        )

    async def _sources(self, rel: str) -> list[_Source]:
        """Each route's upstream document at `rel`, the routes asked at once (routes without one
        left out); raises UpstreamNotFound when no route has it, UpstreamError when one fails with
        nothing stale (a document without its private half would be a wrong answer)."""
        parts = await asyncio.gather(*(self._route_sources(route, rel) for route in self.router.routes))
        out = [source for part in parts for source in part]
        if not out:
            raise UpstreamNotFound(f"no upstream has {rel}")
        return out

    async def _route_sources(self, route: Route, rel: str) -> list[_Source]:
        handles = [self.upstreams[n] for n in route.upstreams]
        if route.merge:
            out = []
            for up in handles:
                got = await each_of(up, _fetch(rel), _stale_of(rel), self._note)
                if got is not None:
                    out.append(_Source(route, up.name, got))
            return out
        try:
            pick = await first_of(handles, _fetch(rel), _stale_of(rel), self._note, rel)
        except UpstreamNotFound:
            return []
        if pick.position > 0:
            self.metrics.failover(route.upstreams[0], pick.name)
        return [_Source(route, pick.name, pick.got, pick.position > 0)]

    def _note(self, up: Handle, got: Got | None, failed: bool) -> None:
        if failed:
            self.metrics.upstream(up.name, None, True)
        elif got is not None and got.latency is not None:
            self.metrics.upstream(up.name, got.latency, False)

    def _keep(self, route: Route) -> Callable[[str], bool]:
        router = self.router

        def keep(name: str) -> bool:
            return router.route(normalize_name("conda", name)) is route

        return keep

    def _remember(self, key: tuple[object, ...], composed: _Composed) -> _Composed:
        # Bounded like the document caches: composed bodies plus the upstream copies they hold.
        size = len(composed.body) + sum(len(s.got.doc.body) for s in composed.sources)
        if len(self._memo) >= _MEMO_MAX or self._memo_bytes + size > self.memo_bytes:
            self._memo.clear()
            self._memo_bytes = 0
        self._memo[key] = composed
        self._memo_bytes += size
        return composed

    async def _json(self, rel: str, channeldata: bool = False) -> _Composed:
        sources = await self._sources(rel)
        key = ("json", rel, *(id(s.got.doc) for s in sources))
        hit = self._memo.get(key)
        if hit is not None:
            return _Composed(hit.body, hit.etag, sources, {})
        if self.plain:
            doc = sources[0].got.doc
            if b'"base_url"' not in doc.body:  # as it came
                doc.derived.setdefault("base", real_base({}, doc.url))
                return self._remember(key, _Composed(doc.body, _etag(doc.body), sources, {}))
        parts = []
        for s in sources:
            decoded = decode_json(s.got.doc.body, f"{s.upstream}: {rel}")
            s.got.doc.derived["base"] = real_base(decoded, s.got.doc.url)
            if not channeldata:
                s.got.doc.derived["files"] = filenames(decoded)
            parts.append(Part(decoded, self._keep(s.route)))
        compose = compose_channeldata if channeldata else compose_repodata
        body = msgspec.json.encode(compose(parts))
        return self._remember(key, _Composed(body, _etag(body), sources, {}))

    async def _compressed(self, rel: str, codec: str) -> _Composed:
        if not self.plain:
            raise UpstreamNotFound(f"{rel}: filtered by routing; use the uncompressed form")
        sources = await self._sources(rel)
        doc = sources[0].got.doc
        verdict = doc.derived.get("base_url")
        if verdict is None:
            verdict = doc.derived["base_url"] = head_has_base_url(doc.body, codec)
        if verdict:
            raise UpstreamNotFound(f"{rel}: its base_url is rewritten; use the uncompressed form")
        doc.derived.setdefault("base", real_base({}, doc.url))
        etag = doc.derived.get("etag")
        if not isinstance(etag, str):
            etag = doc.derived["etag"] = _etag(doc.body)
        return _Composed(doc.body, etag, sources, {})

    async def _index(self, where: cpaths.CondaPath) -> _Composed:
        rel = f"{where.channel}/{where.subdir}/{cpaths.SHARD_INDEX_NAME}"
        sources = await self._sources(rel)
        if len({id(s.route) for s in sources}) < len(self.router.routes):
            # A route without a shard index: its packages would be missing from this one.
            raise UpstreamNotFound(f"{rel}: not every route offers it; use repodata.json")
        key = ("index", rel, *(id(s.got.doc) for s in sources))
        hit = self._memo.get(key)
        if hit is not None:
            return _Composed(hit.body, hit.etag, sources, hit.owners)
        parts = []
        for s in sources:
            decoded = derived_index(s.got.doc, self.max_bytes, f"{s.upstream}: {rel}")
            s.got.doc.derived["base"] = real_base(decoded, s.got.doc.url)
            s.got.doc.derived["shards"] = real_base(decoded, s.got.doc.url, "shards_base_url")
            parts.append(Part(decoded, self._keep(s.route)))
        out, owners = compose_index(parts)
        body = encode_index(out)
        return self._remember(key, _Composed(body, _etag(body), sources, owners))

    async def _shard(self, where: cpaths.CondaPath, request: Request, facts: Facts) -> Answer:
        index = await self._index(where)
        owner = index.owners.get(where.name)
        if owner is None:
            return Answer(text(404, "not found: no such shard in this channel"), INDEX_PROJECT)
        source = index.sources[owner.part]
        facts.project = normalize_name("conda", owner.name)
        base = source.got.doc.derived.get("shards")
        url = f"{base}{where.name}.msgpack.zst"
        up = self.upstreams[source.upstream]
        if not url.startswith(up.client.base_url):
            # Shards kept elsewhere (a CDN): the gateway fetches only from the upstream itself.
            return Answer(FileTarget(INDEX_PROJECT, url, _shard_facts(facts, source.upstream)), INDEX_PROJECT)
        pick = await first_of([up], _fetch_url(url), _stale_url(url), self._note, url)
        composed = _Composed(
            pick.got.doc.body, f'"{where.name}"', [_Source(source.route, up.name, pick.got)], {}
        )
        return Answer(self._answer(composed, _TYPES["msgpack"], request, facts, _IMMUTABLE), INDEX_PROJECT)

    # ---- files ----------------------------------------------------------------------------------


def _shard_facts(facts: Facts, upstream: str) -> Facts:
    return Facts(project=facts.project, upstream=upstream, platform=facts.platform)


def _fetch(rel: str) -> _Fetch:
    async def fetch(cache: DocCache) -> Got:
        return await cache.get(cache.client.base_url + rel)

    return fetch


def _stale_of(rel: str) -> _Stale:
    def stale(cache: DocCache) -> Got | None:
        return cache.stale(cache.client.base_url + rel)

    return stale


def _fetch_url(url: str) -> _Fetch:
    async def fetch(cache: DocCache) -> Got:
        return await cache.get(url)

    return fetch


def _stale_url(url: str) -> _Stale:
    def stale(cache: DocCache) -> Got | None:
        return cache.stale(url)

    return stale
