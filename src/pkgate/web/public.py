"""Public stats and badges without a token: `/public/...` of `pkgate dashboard`, and `pkgate publish DIR`.

Only projects listed in `public.projects` have a page; any other name is 404, the same answer as a
project without data, so the routes do not reveal which projects the gateway serves. A release
(`pkgate.insights.public`) covers closed periods and is made once per (project, week, month): it is
kept in `<data_dir>/public/` and served from there, so its noise is drawn once and a visitor cannot
average fresh draws by reloading, and a restart or `pkgate publish` spends no new budget.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import msgspec

from pkgate.config import Public
from pkgate.errors import PkgateError
from pkgate.insights.public import NUMBERS_PER_PERIOD, Release, Settings, complete_periods, release
from pkgate.store import connect
from pkgate.web.badges import BADGES, badge_json, badge_svg
from pkgate.web.public_page import CSS, index_html, project_html

__all__ = ["PublicSite", "public_routes", "publish"]

_NORMALISE: Final = re.compile(r"[-_.]+")


def _norm(name: str) -> str:
    return _NORMALISE.sub("-", name).lower()


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class PublicSite:
    """The opted-in projects' releases, made on first use and kept on disk."""

    def __init__(
        self, settings: Public, store: Path, cache_dir: Path, today: Callable[[], dt.date] = _today
    ) -> None:
        self.settings = settings
        self.store = store
        self.cache_dir = cache_dir
        self.today = today
        self.projects = sorted({_norm(p) for p in settings.projects})
        self._lock = threading.Lock()

    def _path(self, project: str, today: dt.date) -> Path:
        week, month = complete_periods(today)
        s = self.settings
        knobs = f"k{s.k}-e{s.epsilon:g}-m{s.max_installs}-a{int(s.include_automation)}"
        return self.cache_dir / f"{project}_{week[0]}_{month[0]}_{knobs}.json"

    def release(self, name: str) -> Release | None:
        """The current release of `name` (any spelling), or None when it is not public."""
        project = _norm(name)
        if project not in self.projects:
            return None
        today = self.today()
        path = self._path(project, today)
        with self._lock:  # one release per period, even when two visitors come at once
            if path.exists():
                return msgspec.json.decode(path.read_bytes(), type=Release)
            made = self._make(project, today)
            self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(msgspec.json.encode(made))
            os.replace(tmp, path)
            return made

    def _make(self, project: str, today: dt.date) -> Release:
        s = self.settings
        settings = Settings(k=s.k, max_installs=s.max_installs, include_automation=s.include_automation)
        noise: Any = None
        info = None
        if s.epsilon > 0:
            from pkgate.insights.noise import Laplace

            noise = Laplace(s.epsilon, 2 * NUMBERS_PER_PERIOD)
            info = noise.info(s.max_installs)
        con = connect(self.store, read_only=True, wait=5.0)
        try:
            made = release(con, project, today, settings, noise, info)
        finally:
            con.close()
        if noise is not None:  # what OpenDP's privacy maps say this release spent
            made = msgspec.structs.replace(
                made, noise={**(info or {}), "epsilon_spent": round(noise.spent, 9)}
            )
        return made

    def files(self, project: str) -> dict[str, tuple[bytes, str]] | None:
        """Relative path -> (body, media type) of one project's public files."""
        r = self.release(project)
        if r is None:
            return None
        out = {
            "index.html": (project_html(r).encode(), "text/html; charset=utf-8"),
            "stats.json": (msgspec.json.encode(r), "application/json"),
        }
        for b in BADGES:
            out[f"badge/{b}.json"] = (
                msgspec.json.encode(badge_json(r, b, self.settings.cache_seconds)),
                "application/json",
            )
            out[f"badge/{b}.svg"] = (badge_svg(r, b).encode(), "image/svg+xml")
        return out


def publish(site: PublicSite, out: Path) -> list[Path]:
    """Write every public project's files under `out` (for any static web server); returns them."""
    written: list[Path] = []
    shared = {"style.css": CSS.encode(), "index.html": index_html(site.projects).encode()}
    for name, body in shared.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(body)
        written.append(out / name)
    for project in site.projects:
        for rel, (body, _) in (site.files(project) or {}).items():
            path = out / project / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            written.append(path)
    return written


def _headers(body: bytes, media: str, cache_seconds: int, page: bool) -> dict[str, str]:
    h = {
        "cache-control": f"public, max-age={cache_seconds}",
        "etag": '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
        "x-content-type-options": "nosniff",
        "access-control-allow-origin": "*",
    }
    if page:
        h["content-security-policy"] = (
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors *; base-uri 'none'"
        )
    return h


def public_routes(site: PublicSite) -> list[Any]:
    """`/public/`, `/public/style.css`, `/public/<project>/` (page), `.../stats.json`, `.../badge/<b>.{json,svg}`."""
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import RedirectResponse, Response
    from starlette.routing import Route

    ttl = site.settings.cache_seconds

    def answer(request: Request, body: bytes, media: str) -> Response:
        headers = _headers(body, media, ttl, media.startswith("text/html"))
        if request.headers.get("if-none-match") == headers["etag"]:
            return Response(b"", 304, headers)
        return Response(body, 200, headers, media_type=media)

    async def index(request: Request) -> Response:
        return answer(request, index_html(site.projects).encode(), "text/html; charset=utf-8")

    async def css(request: Request) -> Response:
        return answer(request, CSS.encode(), "text/css")

    async def no_slash(request: Request) -> Response:
        project = _norm(request.path_params["project"])
        if project not in site.projects:  # only a configured name ever reaches the Location header
            return Response("not found\n", 404, media_type="text/plain")
        return RedirectResponse(f"/public/{project}/", 308)

    async def file(request: Request) -> Response:
        project, rel = request.path_params["project"], request.path_params.get("rel", "index.html")
        if _norm(project) not in site.projects:
            return Response("not found\n", 404, media_type="text/plain")
        try:
            files = await run_in_threadpool(site.files, project)
        except PkgateError:  # no store yet, or busy: nothing is cached; no path is shown to the public
            return Response("stats not available yet\n", 503, {"retry-after": "30"}, media_type="text/plain")
        if files is None or rel not in files:
            return Response("not found\n", 404, media_type="text/plain")
        body, media = files[rel]
        return answer(request, body, media)

    return [
        Route("/public/", index, methods=["GET", "HEAD"]),
        Route("/public/style.css", css, methods=["GET", "HEAD"]),
        Route("/public/{project}", no_slash, methods=["GET", "HEAD"]),
        Route("/public/{project}/", file, methods=["GET", "HEAD"]),
        Route("/public/{project}/{rel:path}", file, methods=["GET", "HEAD"]),
    ]
