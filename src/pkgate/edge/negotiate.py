"""PEP 691 content negotiation: which serialisation of an index page to send.

Selection follows RFC 9110 section 12.5.1: each type the server can send takes the quality of the
most specific Accept range that matches it (exact type or `latest` alias, then `type/*`, then
`*/*`); q=0 means "not acceptable"; the highest quality wins. Ties are broken in two steps:

1. A type the client *named* beats one reached only through a wildcard. Among named types the order
   is JSON_V1, HTML_V1, HTML_LEGACY: a client that names the JSON type can read it, JSON is smaller
   and much cheaper to parse than HTML, and it carries the PEP 700 fields HTML cannot.
2. Among types reached only through wildcards the order is reversed (HTML_LEGACY first). A wildcard
   says nothing about the simple API: `Accept: */*` is what requests-based tools (older Poetry,
   scripts) and curl send, and they expect PEP 503 HTML. PEP 691 treats a missing Accept as `*/*`
   and a missing Accept must give text/html (old pip), so `*/*` gives text/html as well.

The result is memoised on the raw header: clients send a handful of distinct Accept strings.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

__all__ = ["HTML_LEGACY", "HTML_V1", "JSON_V1", "SUPPORTED", "negotiate"]

JSON_V1: Final = "application/vnd.pypi.simple.v1+json"
HTML_V1: Final = "application/vnd.pypi.simple.v1+html"
HTML_LEGACY: Final = "text/html"
SUPPORTED: Final = (JSON_V1, HTML_V1, HTML_LEGACY)

# Media type name -> type served; the `latest` meta-version is answered with the concrete v1 type.
_EXACT: Final = {
    JSON_V1: JSON_V1,
    HTML_V1: HTML_V1,
    HTML_LEGACY: HTML_LEGACY,
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
}
_MAX_PARTS: Final = 32
_MAX_HEADER: Final = 4096
_CACHE_MAX_LEN: Final = 512
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_RE: Final = re.compile(rf"({_TCHARS})/({_TCHARS})")
_QVALUE_RE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")

# Specificity of a match: exact (or alias) > type/* > */*.
_EXACT_MATCH: Final = 3
_TYPE_MATCH: Final = 2
_ANY_MATCH: Final = 1


def _parse_part(part: str) -> tuple[str, float] | None:
    """(lowercased media range, quality) of one Accept element, None if it is malformed."""
    media, *params = part.split(";")
    media = media.strip().lower()
    match = _MEDIA_RE.fullmatch(media)
    if match is None or (match[1] == "*" and match[2] != "*"):
        return None
    quality = 1.0
    for param in params:
        key, sep, value = param.partition("=")
        if key.strip().lower() != "q":
            continue  # media-type parameters and accept-extensions do not affect the choice
        value = value.strip()
        if not sep or _QVALUE_RE.fullmatch(value) is None:
            return None
        quality = float(value)
        break  # parameters after q are accept-extensions
    return media, quality


def _specificity(media: str, offer: str) -> int:
    if _EXACT.get(media) == offer:
        return _EXACT_MATCH
    if media == "*/*":
        return _ANY_MATCH
    if media.endswith("/*") and offer.startswith(media[:-1]):
        return _TYPE_MATCH
    return 0


def _choose(accept: str) -> str | None:
    # Per offer: (specificity, quality) of the most specific matching range seen so far.
    best: dict[str, tuple[int, float]] = {}
    any_valid = False
    for part in accept[:_MAX_HEADER].split(",", _MAX_PARTS)[:_MAX_PARTS]:
        parsed = _parse_part(part)
        if parsed is None:
            continue
        any_valid = True
        media, quality = parsed
        for offer in SUPPORTED:
            spec = _specificity(media, offer)
            if spec and (spec, quality) > best.get(offer, (0, 0.0)):
                best[offer] = (spec, quality)
    if not any_valid:
        return HTML_LEGACY  # an empty or wholly malformed header is treated as absent
    ranked = []
    for rank, offer in enumerate(SUPPORTED):
        spec, quality = best.get(offer, (0, 0.0))
        if quality > 0:
            named = spec == _EXACT_MATCH
            tie_break = -rank if named else rank
            ranked.append((quality, named, tie_break, offer))
    return max(ranked)[3] if ranked else None


_choose_cached = lru_cache(maxsize=256)(_choose)


def _from_format(format_param: str) -> str | None:
    return _EXACT.get(format_param.strip().lower())


def negotiate(accept: str | None, format_param: str | None = None) -> str | None:
    """Content type to serve for this Accept header, or None when none is acceptable (406).

    A non-empty `?format=` value (PEP 691 "URL parameter") overrides Accept: a supported type or
    `latest` alias selects that type, anything else (wildcards, lists, q-values) gives None.
    A missing, empty or wholly malformed Accept gives text/html, what pip before 22.2 expects.
    """
    if format_param is not None and format_param.strip():
        return _from_format(format_param)
    if accept is None or not accept.strip():
        return HTML_LEGACY
    if len(accept) <= _CACHE_MAX_LEN:
        return _choose_cached(accept)
    return _choose(accept)
