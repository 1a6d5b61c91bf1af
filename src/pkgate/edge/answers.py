"""Answers every ecosystem gives the same way: plain-text errors, redirects, cached documents.

A document answer (a Python simple page, an npm packument, conda repodata) carries a strong ETag
over the bytes sent, the upstream's Last-Modified, the cache state and a Warning when stale, and
becomes a 304 when the client's validators match (RFC 9110 §13.2.2).
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Final
from urllib.parse import quote

from pkgate.edge.ecosystem import Facts, Response

__all__ = ["document", "method_not_allowed", "not_modified", "redirect", "text"]

_TEXT: Final = [("content-type", "text/plain; charset=utf-8")]
_GET_HEAD: Final = [("allow", "GET, HEAD")]
_QUERY_SAFE: Final = "!$%&'()*+,/:;=?@[]~"  # RFC 3986 query characters (and '%' of existing escapes)


def text(status: int, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, _TEXT + (extra or []), (message + "\n").encode())


def method_not_allowed(allow: list[tuple[str, str]] = _GET_HEAD) -> Response:
    return text(405, "method not allowed", allow)


def redirect(status: int, location: str, query: str = "") -> Response:
    # The query is kept but percent-encoded: a CR/LF from a client must not reach a header.
    target = location + ("?" + quote(query, safe=_QUERY_SAFE) if query else "")
    return Response(status, [("location", target), ("content-length", "0")], b"")


def not_modified(inm: str | None, ims: str | None, etag: str, last_modified: str | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only when it is absent."""
    if inm is not None:
        if inm.strip() == "*":
            return True
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")[:64]]
        return etag in tags
    if ims is not None and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
    return False


def document(
    body: bytes,
    etag: str,
    content_type: str,
    *,
    state: str,
    cache_control: str,
    last_modified: str | None,
    inm: str | None,
    ims: str | None,
    facts: Facts,
    vary: str = "Accept",
) -> Response:
    """A document answer (200 or 304); notes a conditional request in `facts`."""
    out = [
        ("content-type", content_type),
        ("etag", etag),
        ("vary", vary),
        ("cache-control", cache_control),
        ("x-pkgate-cache", state),
        # Pages carry the upstream's markup as it came: never let it script the gateway's origin.
        ("content-security-policy", "sandbox; default-src 'none'"),
    ]
    if last_modified:
        out.append(("last-modified", last_modified))
    if state == "stale":
        out.append(("warning", '110 - "Response is Stale"'))
    if inm is not None or ims is not None:
        facts.conditional = True
    if not_modified(inm, ims, etag, last_modified):
        return Response(304, [h for h in out if h[0] != "content-type"], b"")
    return Response(200, out, body)
