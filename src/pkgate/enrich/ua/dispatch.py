"""Entry point: normalise the input, then one dict lookup on the first token picks the family.

Order of work, cheapest and most common first: the JSON blob (pip >= 6, uv, Hatch: most index
traffic), then the first-token table, then bot/browser heuristics for the long tail. Every step
is total: nothing here raises, whatever the bytes.
"""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from typing import Final

from pkgate.enrich.ua import (
    conda_tools,
    containers,
    js_tools,
    mirrors,
    python_tools,
    scripts,
    system_tools,
    web,
)
from pkgate.enrich.ua.jsonblob import parse_blob
from pkgate.enrich.ua.model import MAX_LEN, Handler, UserAgent, clean, unknown

_HANDLERS: Final[dict[str, Handler]] = {
    **web.HANDLERS,
    **scripts.HANDLERS,
    **system_tools.HANDLERS,
    **mirrors.HANDLERS,
    **python_tools.HANDLERS,
    **js_tools.HANDLERS,
    **containers.HANDLERS,
    **conda_tools.HANDLERS,
}

#: Browser-ish first tokens that carry a model number (`BlackBerry9700/5.0`).
_BROWSERISH: Final = re.compile(r"(?i)(BlackBerry|Nokia|SonyEricsson|SAMSUNG-|LG-|MOT-)")
#: A well-formed `name/version` first token: worth keeping as name/version even when unknown.
_PRODUCT: Final = re.compile(r"[A-Za-z][\w.+-]{0,63}")

_NONE: Final = UserAgent("unknown")
_CACHE_SIZE: Final = 65536


def prepare(ua: str | bytes | None) -> str | None:
    """Cap, decode and repair mojibake, so equal headers give equal cache keys."""
    if ua is None:
        return None
    if isinstance(ua, bytes):
        ua = ua[:MAX_LEN].decode("latin-1")
    elif len(ua) > MAX_LEN:
        ua = ua[:MAX_LEN]
    if not ua.isascii():
        # The edge decodes headers as latin-1; UTF-8 clients' text is re-read as UTF-8 when it is.
        with contextlib.suppress(UnicodeError):
            ua = ua.encode("latin-1").decode("utf-8")
    return ua


def parse(ua: str | bytes | None) -> UserAgent:
    """Parse one User-Agent header; never raises (unparseable input gives category `unknown`)."""
    if type(ua) is not str or len(ua) > MAX_LEN or not ua.isascii():
        ua = prepare(ua)
        if ua is None:
            return _NONE
    try:
        return _parse(ua)
    except Exception:  # a bug in one family must cost one row's detail, not the loader
        return unknown(ua)


def _parse(raw: str) -> UserAgent:
    s = raw.strip()
    sp = s.find(" ")
    if sp < 0:
        head, rest = s, ""
    else:
        head, rest = s[:sp], s[sp + 1 :]  # non-empty: `s` does not end with a space
        if rest[0] == " ":
            rest = rest.lstrip()
    slash = head.find("/")
    if slash < 0:
        name, version = head, ""
    else:
        name, version = head[:slash], head[slash + 1 :]
        if rest[:1] == "{":  # the JSON blob: most traffic, so first
            found = parse_blob(rest, name, version)
            if found is not None:
                return found
    handler = _HANDLERS.get(name.lower())
    if handler is not None:
        found = handler(s, name, version, rest)
        if found is not None:
            return found
    found = web.bot(s)
    if found is not None:
        return found
    if (m := _BROWSERISH.match(s)) is not None:
        return UserAgent("browser", m[1].rstrip("-").lower(), clean(version))
    if version and _PRODUCT.fullmatch(name) is not None:
        return unknown(raw, name.lower(), version)
    return unknown(raw)


_parse_cached = lru_cache(maxsize=_CACHE_SIZE)(parse)


def parse_cached(ua: str | bytes | None) -> UserAgent:
    """`parse` behind a bounded LRU: index traffic repeats a few thousand distinct UAs.

    Keys are capped first, so a flood of huge hostile headers cannot pin much memory.
    """
    if ua is not None and len(ua) > MAX_LEN:
        ua = ua[:MAX_LEN]
    return _parse_cached(ua)


def clear_cache() -> None:
    """Forget cached results (benchmarks and tests start cold)."""
    _parse_cached.cache_clear()
