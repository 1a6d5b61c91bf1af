"""The ASGI app of `pkgate dashboard`: the JSON API (`/api/`) plus the dashboard pages (`/dashboard`).

The pages and scripts hold no data and are served without a token; every number comes from the API,
which the page calls with the admin token the user typed (kept in `sessionStorage`, sent as a bearer
header, never in a URL or a cookie — so there is nothing for another site to ride on: no CSRF).
A strict Content-Security-Policy allows scripts from this origin only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Route

from pkgate.errors import ConfigError
from pkgate.web.api import api_routes
from pkgate.web.assets import DASHBOARD_DIR, find_chart_js
from pkgate.web.guard import Guard
from pkgate.web.public import PublicSite, public_routes

__all__ = ["MIN_TOKEN_LENGTH", "create_app"]

MIN_TOKEN_LENGTH: Final = 16

_PAGE_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-cache",
}
_STATIC: Final = {"app.js": "text/javascript", "charts.js": "text/javascript", "style.css": "text/css"}


def create_app(
    store: Path, token: str, chart_js: Path | None = None, public: PublicSite | None = None
) -> Starlette:
    """The app over the DuckDB file `store`, guarded by `token` (at least 16 characters).

    With `public` (the opted-in projects of `[public]`) the public pages and badges are served too,
    without a token; then `token` may be empty, which serves only those.
    """
    extra = public_routes(public) if public is not None else []
    if public is not None and not token:
        return Starlette(routes=extra, middleware=[Middleware(Guard)])
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(f"admin token: must be at least {MIN_TOKEN_LENGTH} characters")
    chart = chart_js or find_chart_js()
    index = (DASHBOARD_DIR / "index.html").read_bytes()

    async def root(request: Request) -> Response:
        return RedirectResponse("/dashboard", 302)

    async def page(request: Request) -> Response:
        return Response(index, 200, _PAGE_HEADERS, media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return Response("not found\n", 404, _PAGE_HEADERS, media_type="text/plain")
        return FileResponse(DASHBOARD_DIR / name, headers=_PAGE_HEADERS, media_type=_STATIC[name])

    async def vendor(request: Request) -> Response:
        return FileResponse(chart, headers=_PAGE_HEADERS, media_type="text/javascript")

    routes = [
        Route("/", root),
        Route("/dashboard", page, methods=["GET"]),
        Route("/dashboard/projects/{project}", page, methods=["GET"]),
        Route("/dashboard/static/{name}", static, methods=["GET"]),
        Route("/dashboard/vendor/chart.js", vendor, methods=["GET"]),
        *api_routes(store, token),
        *extra,
    ]
    return Starlette(routes=routes, middleware=[Middleware(Guard)])  # headers + token-guess brake
