"""Upstream index page bytes -> `ProjectPage`/`RootPage`: which format it is, then its parser.

The format is the Content-Type's, or sniffed from the body when the type is missing or foreign; an
unknown `application/vnd.pypi.simple.*` type is refused. Each format's parser (`pagehtml.py`,
`pagejson.py`) checks every value it reads (`pagecheck.py`) and notes its spec choices.
"""

from __future__ import annotations

from pkgate.edge.negotiate import HTML_LEGACY, HTML_V1, JSON_V1
from pkgate.edge.pagehtml import html_project, html_root
from pkgate.edge.pagejson import json_project, json_root
from pkgate.edge.pages import ProjectPage, RootPage
from pkgate.errors import PageError

__all__ = ["parse_project", "parse_root"]


def parse_project(body: bytes, content_type: str, page_url: str, name: str) -> ProjectPage:
    """The project page at `page_url`; relative links resolve against it (or its `<base href>`)."""
    where = f"project page {page_url[:200]}"
    if _kind(body, content_type) == "json":
        return json_project(body, page_url, name, where)
    return html_project(body, content_type, page_url, name, where)


def parse_root(body: bytes, content_type: str) -> RootPage:
    """The project list; names are kept as listed (PEP 691: display or normalised, either)."""
    where = "root page"
    if _kind(body, content_type) == "json":
        return json_root(body, where)
    return html_root(body, content_type, where)


def _kind(body: bytes, content_type: str) -> str:
    """'json' or 'html' from the Content-Type, sniffing the body when the type is missing or foreign."""
    ctype = content_type.partition(";")[0].strip().lower()
    if ctype in (JSON_V1, "application/vnd.pypi.simple.latest+json"):
        return "json"
    if ctype in (HTML_V1, HTML_LEGACY, "application/vnd.pypi.simple.latest+html"):
        return "html"
    if ctype.startswith("application/vnd.pypi.simple."):
        raise PageError(f"unsupported simple API content type {ctype[:80]!r}")
    head = body[:256].lstrip(b"\xef\xbb\xbf \t\r\n\f")
    if head.startswith(b"{"):
        return "json"
    if head.startswith(b"<"):
        return "html"
    raise PageError(f"not an index page: content type {ctype[:80]!r} and the body is neither HTML nor JSON")
