"""The checks every value read from an upstream index page passes, in either format.

Parsing is where untrusted text enters the gateway, so it refuses (with `PageError`) anything that
could later corrupt a response: URLs that are not http(s), and control characters in any value (a
CR/LF in a URL would split the Location header of a redirect). Upstream URLs are stored absolute,
without fragment, and with characters that are illegal in an HTTP header percent-encoded. Hashes
are only a SHOULD: malformed ones are dropped, not refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, urldefrag, urljoin, urlsplit

from pkgate.errors import PageError

__all__ = ["HTML_WS", "check_api_version", "clean", "clean_hashes", "resolve_url"]

HTML_WS: Final = " \t\n\r\f"
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HASH_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_HEX_RE: Final = re.compile(r"[0-9a-fA-F]{1,256}")
# Characters kept as-is in a stored URL: RFC 3986 reserved + unreserved + '%'; the rest is encoded.
_URL_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"
# An absolute http(s) URL that needs no joining, fragment removal nor encoding (fast path).
_PLAIN_URL_RE: Final = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/[A-Za-z0-9!$%&'()*+,/:;=?@~._-]*")
_SUPPORTED_MAJOR: Final = "1"


def clean(text: str, what: str, where: str) -> str:
    """`text` unchanged, or PageError if it holds a control character."""
    if _CONTROL_RE.search(text):
        raise PageError(f"{where}: {what} contains a control character: {text[:80]!r}")
    return text


def clean_hashes(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Well-formed `name -> hex` entries; anything else is dropped (hashes are only a SHOULD)."""
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.strip().lower()
        if _HASH_NAME_RE.fullmatch(key) and _HEX_RE.fullmatch(value):
            out.setdefault(key, value)
    return out


def resolve_url(href: str, base: str, where: str) -> tuple[str, str]:
    """(absolute URL without fragment, fragment) of `href`, or PageError unless it is http(s)."""
    if _PLAIN_URL_RE.fullmatch(href):
        return href, ""  # the common case, already what urljoin + quote would return
    href = clean(href.strip(HTML_WS), "URL", where)
    try:
        url, fragment = urldefrag(urljoin(base, href))
        parts = urlsplit(url)
    except ValueError as exc:
        raise PageError(f"{where}: malformed URL {href[:200]!r}: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PageError(f"{where}: URL is not an absolute http(s) URL: {href[:200]!r}")
    return quote(url, safe=_URL_SAFE), fragment


def check_api_version(version: str, where: str) -> None:
    """PEP 629: a client MUST fail on a major version it does not know."""
    if version.partition(".")[0].strip() != _SUPPORTED_MAJOR:
        raise PageError(f"{where}: unsupported repository API version {version[:40]!r}")
