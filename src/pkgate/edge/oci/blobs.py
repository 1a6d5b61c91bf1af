"""Blobs (layers, configs): answered with a redirect, never with their bytes.

An open registry's blob is a stable, content-addressed URL any client can fetch: once the registry
confirms it has it, the answer is a `FileTarget` the gateway memoises (one dict lookup for every
later request). A token registry's blob URL is useless to a client, which drops its
`Authorization` on a redirect to another host: the gateway asks the registry with the client's
token and hands the client the registry's own redirect (its CDN or pre-signed URL); a registry that
serves such a blob itself has it streamed through. Only URLs the registry gave are redirected to.
"""

from __future__ import annotations

import functools
from typing import Final
from urllib.parse import urljoin

from pkgate.edge import proxy
from pkgate.edge.ecosystem import Answer, Facts, FileTarget, Request, Response
from pkgate.edge.oci import answers
from pkgate.edge.oci.names import Target
from pkgate.edge.oci.upstreams import Handle, challenge, learn, open_blob, outgoing, send
from pkgate.errors import UpstreamError

__all__ = ["BLOB", "answer"]

BLOB: Final = "blob"
#: The redirect the distribution API uses for blobs (method and body kept).
REDIRECT: Final = 307
_KEPT: Final = ("content-type", "content-length", "docker-content-digest", "etag", "accept-ranges")


async def answer(target: Target, handles: list[Handle], request: Request, facts: Facts) -> Answer:
    repo, digest = target.repository, target.reference
    facts.digest = facts.filename = digest
    failed = False
    for i, up in enumerate(handles):
        url = f"{up.client.base_url}v2/{repo}/blobs/{digest}"
        last = i == len(handles) - 1
        try:
            if await challenge(up) is None:
                got = await up.cache.heads.run(
                    url, functools.partial(send, up, "HEAD", url, dict(up.client.headers))
                )
                if got.status == 401:
                    learn(up, got.status, got.headers)
                if up.cache.challenge is None:
                    if got.status == 404 and not up.authoritative and not last:
                        continue
                    if got.status != 200:
                        return Answer(_status(got.status, facts, up), BLOB)
                    known = Facts(
                        project=repo, filename=digest, digest=digest, upstream=up.name, failover=i > 0
                    )
                    held = up if up.mode == "proxy" else None
                    return Answer(FileTarget(BLOB, url, known, held, REDIRECT), BLOB)
            answered = await _token_blob(up, url, request, facts, last)
        except UpstreamError:
            failed = True
            continue
        if answered is not None:
            facts.upstream, facts.failover = up.name, i > 0
            return Answer(answered, BLOB)
    if failed:
        return Answer(answers.error(502, "UNAVAILABLE", "no registry of the route answered"), BLOB)
    return Answer(answers.error(404, "BLOB_UNKNOWN", "blob unknown to the registry"), BLOB)


async def _token_blob(up: Handle, url: str, request: Request, facts: Facts, last: bool) -> Response | None:
    """The registry's answer for a client with a token; None: not there, ask the next one."""
    resp = await open_blob(up, request.method, url, outgoing(up, request.headers.get("authorization")))
    status = resp.status_code
    if status == 200:
        kept = [(k, resp.headers[k]) for k in _KEPT if k in resp.headers]
        if request.method == "HEAD":
            await resp.aclose()
            return Response(200, kept, b"")
        return Response(200, kept, proxy.Stream(resp))
    await resp.aclose()
    location = resp.headers.get("location")
    if status in (301, 302, 303, 307, 308) and location:
        where = urljoin(url, location)
        if where.startswith(("https://", "http://")):
            return Response(
                REDIRECT, [("location", where), ("content-length", "0"), answers.API_VERSION], b""
            )
        return answers.error(502, "UNAVAILABLE", "the registry redirected to a non-http URL")
    if status == 401:
        learn(up, status, resp.headers)
        return answers.unauthorized(request.headers, f"repository:{facts.project}:pull")
    if status == 404 and not up.authoritative and not last:
        return None
    return _status(status, facts, up)


def _status(status: int, facts: Facts, up: Handle) -> Response:
    facts.upstream = up.name
    if status == 404:
        return answers.error(404, "BLOB_UNKNOWN", "blob unknown to the registry")
    if status == 403:
        return answers.error(403, "DENIED", "the registry refused")
    return answers.error(502, "UNAVAILABLE", f"the registry answered HTTP {status}")
