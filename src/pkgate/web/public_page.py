"""The public stats page of one project, rendered to static HTML (no script: it embeds anywhere).

Every value is escaped (versions and countries come from clients). Links are relative, so the same
files work served by `pkgate dashboard` under `/public/` and written by `pkgate publish DIR`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Final

from pkgate.insights.public import BREAKDOWNS, Period, Release
from pkgate.web.badges import BADGES

__all__ = ["CSS", "index_html", "project_html"]

CSS: Final = (
    """body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}.note{color:#555;font-size:.9rem}.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.8rem 1.2rem;min-width:11rem}
.card .value{font-size:1.8rem;font-weight:600}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(17rem,1fr));gap:1rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.15rem .4rem;font-size:.9rem}
td.n{text-align:right;font-variant-numeric:tabular-nums}.bar{background:#4c78a8;height:.7rem;border-radius:2px}
.badges img{margin-right:.5rem}code{background:#f4f4f4;padding:.1rem .3rem}td.b{width:40%}
"""
    + "".join(f".w{i}{{width:{i}%}}" for i in range(0, 101, 5))
    + "\n"
)
_TITLES: Final = {"version": "Version", "python": "Python", "os": "OS", "country": "Country"}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _num(n: int | None, k: int) -> str:
    return f"fewer than {k}" if n is None else f"{n:,}"


def _table(name: str, p: Period) -> str:
    cells = p.by.get(name, [])
    top = max((c.installs for c in cells), default=1) or 1
    rows = "".join(
        f'<tr><td>{_e(c.value)}</td><td class="n">{c.installs:,}</td>'
        f'<td class="b"><div class="bar w{5 * round(20 * c.installs / top)}"></div></td></tr>'
        for c in cells
    )
    more = p.withheld.get(name, 0)
    foot = f'<p class="note">{more} smaller value(s) withheld.</p>' if more else ""
    empty = "" if cells else '<p class="note">Nothing to show.</p>'
    return (
        f'<section data-breakdown="{name}"><h3>{_TITLES[name]}</h3><table><tbody>{rows}</tbody></table>'
        f"{empty}{foot}</section>"
    )


def _period(title: str, key: str, p: Period, k: int) -> str:
    tables = "".join(_table(name, p) for name in BREAKDOWNS)
    return (
        f'<section data-period="{key}"><h2>{title}: {p.start.isoformat()} to {p.end.isoformat()}</h2>'
        f'<div class="cards"><div class="card" data-field="unique_sources"><div>Unique users</div>'
        f'<div class="value">{_num(p.unique_sources, k)}</div></div>'
        f'<div class="card" data-field="installs"><div>Installs</div>'
        f'<div class="value">{_num(p.installs, k)}</div></div></div>'
        f'<h3 class="note">Installs by</h3><div class="grid">{tables}</div></section>'
    )


def project_html(r: Release) -> str:
    """The page of one release; bars are sized by CSS classes only, no inline script or style."""
    badges = "".join(f'<img src="badge/{b}.svg" alt="{b}">' for b in BADGES)
    noise = (
        f"Each number carries differential-privacy noise (OpenDP, &epsilon; = "
        f"{_e(r.noise['epsilon_per_release'])} per release)."
        if r.noise
        else "No noise is added."
    )
    auto = "Mirrors, bots, CI and polling deploys are not counted. " if r.automation_excluded else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(r.project)}: public usage stats</title><link rel="icon" href="data:,"><link rel="stylesheet" href="../style.css"></head>
<body data-project="{_e(r.project)}"><h1>{_e(r.project)}</h1>
<p class="badges">{badges}</p>
<p class="note">Usage seen by this package gateway. {auto}Numbers below {r.k} are withheld, and so are
the next smallest values of a table when the withheld ones would add up to fewer than {r.k}. {noise}
No address, source id, network or organisation is published. Machine-readable:
<a href="stats.json">stats.json</a>.</p>
{_period("Last complete week", "week", r.week, r.k)}
{_period("Last complete month", "month", r.month, r.k)}
</body></html>
"""


def index_html(projects: Sequence[str]) -> str:
    items = "".join(f'<li><a href="{_e(p)}/">{_e(p)}</a></li>' for p in projects)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Public usage stats</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="style.css"></head><body><h1>Public usage stats</h1><ul>{items}</ul></body></html>
"""
