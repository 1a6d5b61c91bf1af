"""Manifests and tag lists, proxied from the first registry of the route that has them.

The client's `Accept` goes upstream whole (skopeo sends one media type per header line; keeping
only the first would turn an index pull into a 404 or a schema-1 conversion). An image index the
gateway relays is remembered per entry (repository, digest -> platform, tag), so the pull of the
manifest a client then picks by digest records its platform and the tag it came from.
"""

from __future__ import annotations

import hashlib
from typing import Final
from urllib.parse import urlencode

import msgspec

from pkgate.edge.ecosystem import INDEX_PROJECT, Answer, Facts, Request, Response
from pkgate.edge.oci import answers
from pkgate.edge.oci.names import INDEX_TYPES, MANIFEST_TYPES, TAGS, Target, is_digest, query_params
from pkgate.edge.oci.upstreams import Handle, Reply, learn, outgoing, send
from pkgate.edge.recorder import Headers
from pkgate.errors import UpstreamError

__all__ = ["MANIFEST", "PlatformMemo", "accepted", "answer"]

MANIFEST: Final = "manifest"
_DEFAULT_ACCEPT: Final = ", ".join(MANIFEST_TYPES)
_MAX_ACCEPT: Final = 8192
_MEMO_MAX: Final = 100_000
_KEPT: Final = ("content-type", "docker-content-digest", "etag", "link")


class _Platform(msgspec.Struct):
    os: str = ""
    architecture: str = ""
    variant: str = ""


class _Entry(msgspec.Struct):
    digest: str = ""
    platform: _Platform | None = None


class _Index(msgspec.Struct):
    manifests: list[_Entry] = msgspec.field(default_factory=list)


_decode_index = msgspec.json.Decoder(_Index).decode


def platform_name(p: _Platform) -> str | None:
    """`os/architecture[/variant]` (the form of `--platform`), bounded; None when unstated."""
    if not p.os or not p.architecture:
        return None
    return "/".join(x for x in (p.os, p.architecture, p.variant) if x)[:64]


class PlatformMemo:
    """(repository, manifest digest) -> (platform, tag) from the indexes the gateway relayed;
    bounded (emptied when full: a missed platform is a NULL, never a wrong one)."""

    def __init__(self, max_entries: int = _MEMO_MAX) -> None:
        self.max_entries = max_entries
        self._d: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def note_index(self, repository: str, tag: str | None, body: bytes) -> None:
        try:
            index = _decode_index(body)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        for entry in index.manifests[:1024]:
            if is_digest(entry.digest) and entry.platform is not None:
                if len(self._d) >= self.max_entries:
                    self._d.clear()
                self._d[(repository, entry.digest)] = (platform_name(entry.platform), tag)

    def get(self, repository: str, digest: str) -> tuple[str | None, str | None]:
        return self._d.get((repository, digest), (None, None))


def _page(query: str) -> str:
    """The tag list's pagination (`n`, `last`) re-encoded; nothing else of the query goes upstream."""
    kept = [(k, v) for k, v in query_params(query, 16) if k in ("n", "last")]
    return "?" + urlencode(kept) if kept else ""


def accepted(headers: Headers) -> str:
    """Every `Accept` line of the request, joined; the manifest types when there is none."""
    items = getattr(headers, "items", None)
    values: list[str] = []
    if callable(items):
        values = [v for k, v in items() if k.lower() == "accept"]
    if not values:
        one = headers.get("accept")
        values = [one] if one else []
    joined = ", ".join(values)
    return joined[:_MAX_ACCEPT] if joined.strip() else _DEFAULT_ACCEPT


async def answer(
    target: Target, handles: list[Handle], request: Request, facts: Facts, memo: PlatformMemo
) -> Answer:
    """A manifest (or tag list): the first registry of the route that has it, relayed."""
    repo, ref = target.repository, target.reference
    is_tags = target.endpoint == TAGS
    path = f"v2/{repo}/tags/list{_page(request.query)}" if is_tags else f"v2/{repo}/manifests/{ref}"
    accept = "application/json" if is_tags else accepted(request.headers)
    auth = request.headers.get("authorization")
    kind = INDEX_PROJECT if is_tags else MANIFEST
    failed = False
    reply: Reply | None = None
    for i, up in enumerate(handles):
        try:
            got = await send(
                up, request.method, up.client.base_url + path, {**outgoing(up, auth), "Accept": accept}
            )
        except UpstreamError:
            failed = True
            continue
        if got.status == 404 and not up.authoritative and i < len(handles) - 1:
            reply = reply or got
            continue
        facts.upstream, facts.failover, reply = up.name, i > 0, got
        if got.status == 401:
            learn(up, got.status, got.headers)
            return Answer(answers.unauthorized(request.headers, f"repository:{repo}:pull"), kind)
        break
    if reply is None or (reply.status == 404 and failed):
        return Answer(answers.error(502, "UNAVAILABLE", "no registry of the route answered"), kind)
    if not is_tags:
        facts.version = None if is_digest(ref) else ref
    if reply.status != 200:
        ctype = reply.headers.get("content-type", "application/json")
        return Answer(
            Response(reply.status, [("content-type", ctype), answers.API_VERSION], reply.body), kind
        )
    headers = [(k, reply.headers[k]) for k in _KEPT if k in reply.headers]
    headers.append(answers.API_VERSION)
    if is_tags:
        return Answer(Response(200, headers, reply.body), kind)
    ctype = reply.headers.get("content-type", "").split(";")[0].strip()
    digest = reply.headers.get("docker-content-digest") or (
        ref if is_digest(ref) else "sha256:" + hashlib.sha256(reply.body).hexdigest() if reply.body else None
    )
    facts.digest = facts.filename = digest if digest and is_digest(digest) else None
    if request.method == "HEAD" and "content-length" in reply.headers:
        headers.append(("content-length", reply.headers["content-length"]))
    if ctype in INDEX_TYPES:
        if request.method == "GET":
            memo.note_index(repo, facts.version, reply.body)
        return Answer(Response(200, headers, reply.body), INDEX_PROJECT)
    if is_digest(ref):
        facts.platform, facts.version = memo.get(repo, ref)
    return Answer(Response(200, headers, reply.body), MANIFEST)
