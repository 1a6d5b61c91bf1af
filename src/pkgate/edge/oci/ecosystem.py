"""The OCI distribution API under `/v2/`, behind the interface of `pkgate.edge.ecosystem`.

Read-only: `/v2/` (the ping), `/v2/_token` (the gateway's token realm), manifests by tag or digest
and tag lists (proxied: small, and authenticated differently by every registry), blobs (answered
with a redirect). Kinds: an image manifest `GET` is a pull (`manifest`), its `HEAD` a check; an
image index is the repository's document (`index-project`, as is a tag list); a blob is a layer
fetch (`blob`). See docs/ecosystems.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Final

from pkgate.edge.answers import method_not_allowed
from pkgate.edge.ecosystem import (
    INDEX_MISS,
    INDEX_PROJECT,
    OTHER,
    Answer,
    Build,
    Ecosystem,
    Facts,
    Paths,
    Request,
)
from pkgate.edge.oci import answers, blobs, manifests, token
from pkgate.edge.oci.names import BLOBS, MANIFESTS, PREFIX, TAGS, parse_path
from pkgate.edge.oci.upstreams import Handle, build_handles, challenge
from pkgate.edge.routing import Router

__all__ = ["BLOB", "MANIFEST", "MODULE", "OciEcosystem", "OciModule"]

#: An image manifest (not an index): a `GET` is a pull, a `HEAD` a check (docs/insights.md).
MANIFEST: Final = manifests.MANIFEST
#: A blob (layer or config): a layer fetch, not a download.
BLOB: Final = blobs.BLOB
_KIND: Final = {MANIFESTS: MANIFEST, BLOBS: BLOB, TAGS: INDEX_PROJECT}


class OciEcosystem:
    """Registries routed by repository name, answered as one registry."""

    name: Final = "oci"

    def __init__(
        self, handles: dict[str, Handle], router: Router, memo: manifests.PlatformMemo, serves: bool = True
    ) -> None:
        # A config that serves no images leaves `/v2/` to nobody (a 404 of the gateway's own).
        self.paths = Paths(exact=("/v2",), prefixes=(PREFIX,)) if serves else Paths()
        self.handles = handles
        self.router = router
        self.memo = memo
        self.used = [handles[n] for n in router.upstream_names() if n in handles]

    @property
    def upstreams(self) -> Mapping[str, Handle]:
        return self.handles

    async def handle(self, request: Request, facts: Facts) -> Answer:
        method, path = request.method, request.path
        if path in ("/v2", PREFIX):
            if method not in ("GET", "HEAD"):
                return Answer(method_not_allowed(), OTHER)
            return Answer(await self._ping(request), OTHER)
        if path == token.PATH:
            auth = request.headers.get("authorization")
            return Answer(await token.answer(method, request.query, auth, self.router, self.handles), OTHER)
        target = parse_path(path)
        if target is None:
            return Answer(answers.error(404, "NAME_INVALID", "not a distribution API path"), OTHER)
        kind = _KIND[target.endpoint]
        facts.project = target.repository
        if method not in ("GET", "HEAD"):
            return Answer(answers.error(405, "UNSUPPORTED", "this registry is read-only"), kind)
        route = self.router.route(target.repository)
        if route is None:
            return Answer(answers.error(404, "NAME_UNKNOWN", "repository not served here"), INDEX_MISS)
        handles = [self.handles[n] for n in route.upstreams]
        if target.endpoint == BLOBS:
            return await blobs.answer(target, handles, request, facts)
        return await manifests.answer(target, handles, request, facts, self.memo)

    async def _ping(self, request: Request) -> answers.Response:
        """200 unless some registry needs tokens and the client has none: then the gateway's own
        challenge, so that clients fetch their tokens from the gateway."""
        if request.headers.get("authorization"):
            return answers.ping()
        found = await asyncio.gather(*(challenge(up) for up in self.used))
        if any(c is not None for c in found):
            return answers.unauthorized(request.headers, None)
        return answers.ping()


class OciModule:
    name: Final = "oci"

    def build(self, build: Build, previous: Ecosystem | None) -> OciEcosystem:
        old = previous if isinstance(previous, OciEcosystem) else None
        handles = build_handles(
            build.cfg, build.client, old.handles if old is not None else None, build.metrics
        )
        memo = old.memo if old is not None else manifests.PlatformMemo()
        return OciEcosystem(handles, Router(build.cfg, "oci"), memo, build.cfg.serves("oci"))


MODULE: Final = OciModule()
