"""User-Agent parsing: which installer (and Python, OS, CPU...) made a request.

A superset of PyPI's linehaul parser that never raises: see `dispatch` for the order of work and
one module per family of clients.
"""

from pkgate.enrich.ua.dispatch import clear_cache, parse, parse_cached
from pkgate.enrich.ua.model import CATEGORIES, MAX_LEN, PARSER_VERSION, UserAgent

__all__ = [
    "CATEGORIES",
    "MAX_LEN",
    "PARSER_VERSION",
    "UserAgent",
    "clear_cache",
    "parse",
    "parse_cached",
]
