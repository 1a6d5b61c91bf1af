"""Enrichment: pure, fast facts derived from a request, with no I/O on the hot path.

At the edge, the client address becomes source/network ids and geo facts (`Enricher`), then is
dropped; in the loader, the raw User-Agent becomes installer/Python/OS/CPU/CI facts (`parse_cached`).
"""

from pkgate.enrich.geo import Enricher, GeoLookup, SourceFacts
from pkgate.enrich.sources import SourceHasher
from pkgate.enrich.ua import PARSER_VERSION, UserAgent, parse, parse_cached

__all__ = [
    "PARSER_VERSION",
    "Enricher",
    "GeoLookup",
    "SourceFacts",
    "SourceHasher",
    "UserAgent",
    "parse",
    "parse_cached",
]
