"""Badges of a public release: shields.io endpoint JSON (`schemaVersion: 1`) and our own flat SVG.

Three badges: `users-week` (unique sources of the last complete week), `installs-month` (installs of
the last complete month) and `latest-adoption` (share of the last complete week's installs that
went to the newest version shown). A withheld number reads `<k`; the badge never shows more than
the public page does.
"""

from __future__ import annotations

import html
from typing import Any, Final

from packaging.version import InvalidVersion, Version

from pkgate.insights.public import Release

__all__ = ["BADGES", "badge_json", "badge_svg", "badge_values", "latest_adoption"]

BADGES: Final = ("users-week", "installs-month", "latest-adoption")
_LABELS: Final = {"users-week": "users/week", "installs-month": "installs/month", "latest-adoption": "latest"}


def _short(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def latest_adoption(r: Release) -> tuple[str, float] | None:
    """(newest version shown this week, its share of the week's installs), or None if unknown."""
    shown = {c.value: c.installs for c in r.week.by.get("version", [])}
    known = [(v, s) for s in shown if (v := _version(s)) is not None]
    if not known or not r.week.installs:
        return None
    _, newest = max(known)
    return newest, min(1.0, max(0.0, shown[newest] / r.week.installs))


def badge_values(r: Release, name: str) -> tuple[str, str, str]:
    """(label, message, colour) of badge `name` (one of BADGES)."""
    below = f"<{r.k}"
    if name == "users-week":
        u = r.week.unique_sources
        return _LABELS[name], below if u is None else _short(u), "blue" if u is not None else "lightgrey"
    if name == "installs-month":
        n = r.month.installs
        return _LABELS[name], below if n is None else _short(n), "blue" if n is not None else "lightgrey"
    got = latest_adoption(r)
    if got is None:
        return _LABELS[name], "n/a", "lightgrey"
    version, share = got
    colour = "brightgreen" if share >= 0.5 else "yellow" if share >= 0.2 else "orange"
    return f"{_LABELS[name]} {version}", f"{share:.0%}", colour


def badge_json(r: Release, name: str, cache_seconds: int) -> dict[str, Any]:
    """The shields.io endpoint schema: https://shields.io/badges/endpoint-badge."""
    label, message, colour = badge_values(r, name)
    return {
        "schemaVersion": 1,
        "label": label,
        "message": message,
        "color": colour,
        "cacheSeconds": max(300, cache_seconds),
    }


_COLOURS: Final = {
    "blue": "#007ec6",
    "lightgrey": "#9f9f9f",
    "brightgreen": "#4c1",
    "yellow": "#dfb317",
    "orange": "#fe7d37",
}


def _width(text: str) -> int:
    """Rough rendered width at 11px Verdana: wide letters 8px, narrow 4px, others 7px."""
    return sum(4 if c in "ijlt.,:;!|/ " else 8 if c in "mwMW%" else 7 for c in text) + 10


def badge_svg(r: Release, name: str) -> str:
    """A flat badge (label | message) as standalone SVG; text is escaped, nothing is fetched."""
    label, message, colour = badge_values(r, name)
    lw, mw = _width(label), _width(message)
    w = lw + mw
    fill = _COLOURS[colour]
    lab, msg = html.escape(label), html.escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
        f'aria-label="{lab}: {msg}"><title>{lab}: {msg}</title>'
        f'<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        f'<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{w}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{fill}"/>'
        f'<rect width="{w}" height="20" fill="url(#s)"/></g>'
        f'<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        f'font-size="11"><text x="{lw / 2:.1f}" y="14">{lab}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="14">{msg}</text></g></svg>'
    )
