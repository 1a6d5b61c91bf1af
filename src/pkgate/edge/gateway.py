"""The gateway's request handling, independent of the server interface (ASGI or RSGI).

`Gateway.handle` maps one request to `(status, headers, body)` and records it. Routes:
`/simple/` (index-root), `/simple/<project>/` (index-project), `/files/<project>/<token>/<file>`
(file, or metadata for `<file>.metadata`), `/healthz` and `/metrics` (operational, not recorded),
`POST /admin/reload` (bearer token; recorded as kind `other`, an audit trail), everything else 404
(kind `other`, recorded). The body is bytes, or a `proxy.Stream` for proxied files.

Which upstream serves a page is the routing table's business (`failover.Table`, swapped whole on a
reload). File links sign `"<upstream> <url>"`, so a file request knows, without any lookup but one
dict, which upstream it belongs to and whether that upstream is proxied.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Final, NamedTuple
from urllib.parse import quote, unquote, unquote_plus

import msgspec

from pkgate.edge import links, negotiate, pages, proxy
from pkgate.edge import render as pages_render
from pkgate.edge.failover import NoRoute, Resolved, Table
from pkgate.edge.metrics import Metrics, collect, render
from pkgate.edge.names import is_valid_project_name, normalize, parse_filename
from pkgate.edge.recorder import Headers, Recorder
from pkgate.errors import LinkError, SpoolError, UpstreamError, UpstreamNotFound
from pkgate.events import now_us
from pkgate.events.spool import pending_frames

Response = tuple[int, list[tuple[str, str]], "bytes | proxy.Stream"]
#: Reload the config; (HTTP status, JSON-able result). Provided by the worker (`reload.py`).
ReloadHook = Callable[[], Awaitable[tuple[int, dict[str, object]]]]
ADMIN_RELOAD: Final = "/admin/reload"

_RENDER_PROJECT: Final = {
    negotiate.JSON_V1: pages_render.render_project_json,
    negotiate.HTML_V1: pages_render.render_project_html,
    negotiate.HTML_LEGACY: pages_render.render_project_html,
}
_RENDER_ROOT: Final = {
    negotiate.JSON_V1: pages_render.render_root_json,
    negotiate.HTML_V1: pages_render.render_root_html,
    negotiate.HTML_LEGACY: pages_render.render_root_html,
}
_FILE_CACHE_MAX: Final = 100_000


class _FileTarget(NamedTuple):
    """What a verified file link resolves to: who serves it, where, and the event's facts."""

    upstream: str
    target: str
    facts: dict[str, object]


_TEXT: Final = [("content-type", "text/plain; charset=utf-8")]


def _text(status: int, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
    return status, _TEXT + (extra or []), (message + "\n").encode()


def _project_url(name: str) -> str:
    return f"/simple/{quote(normalize(name), safe='')}/"


class Gateway:
    """Everything one worker needs to answer requests."""

    def __init__(
        self,
        table: Table,
        signer: links.LinkSigner,
        recorder: Recorder,
        metrics: Metrics,
        spool_dir: Path,
        redirect_status: int = 302,
        cache_ttl: float = 60.0,
        admin_token: str = "",
        reload: ReloadHook | None = None,
    ) -> None:
        self.table = table
        self.signer = signer
        self.recorder = recorder
        self.metrics = metrics
        self.spool_dir = spool_dir
        self.redirect_status = redirect_status
        self.cache_control = f"max-age={int(cache_ttl)}, public"
        self.admin_token = admin_token
        self.reload = reload
        # path -> (upstream, target URL, event fields) of verified file links: the hot path then
        # costs one dict lookup instead of HMAC + filename parsing. Cleared on reload and when full.
        self._files: dict[str, _FileTarget] = {}
        self.demo_clock = False  # config gateway.demo_clock, for `pkgate demo` only
        metrics.breaker_states = self._breaker_states

    def apply(self, table: Table, redirect_status: int, cache_ttl: float, admin_token: str) -> None:
        """Switch to a new routing table and settings (one assignment each; no await in between)."""
        self.table = table
        self.redirect_status = redirect_status
        self.cache_control = f"max-age={int(cache_ttl)}, public"
        self.admin_token = admin_token
        self._files = {}

    def _breaker_states(self) -> dict[str, int]:
        return {name: up.cache.breaker.state for name, up in self.table.upstreams.items()}

    async def handle(self, method: str, path: str, query: str, headers: Headers, peer: str) -> Response:
        started = time.perf_counter_ns()
        ts = now_us()
        if self.demo_clock:
            ts = demo_time(headers.get(DEMO_CLOCK_HEADER), peer, ts)
        if path == "/healthz" or path == "/metrics":
            return self._ops(path)
        fields: dict[str, object] = {}
        try:
            response, kind = await self._dispatch(method, path, query, headers, fields)
        except Exception:  # last line of defence: never a traceback to the client, always an event
            logging.getLogger("pkgate.edge").exception("unhandled error for %s %s", method, path[:200])
            response, kind = _text(500, "internal error"), "other"
        status = response[0]
        event = self.recorder.build(
            ts_us=ts,
            duration_us=(time.perf_counter_ns() - started) // 1000,
            method=method,
            path=path,
            kind=kind,
            status=status,
            headers=headers,
            peer=peer,
            **fields,  # type: ignore[arg-type]
        )
        self.metrics.request(kind, status)
        try:
            await self.recorder.record(event)
        except SpoolError:
            # Not recorded means not answered: the client sees a retryable error, not a lie.
            self.metrics.snap.spool_errors += 1
            if isinstance(response[2], proxy.Stream):
                await response[2].aclose()
            return _text(503, "cannot record request; try again", [("retry-after", "1")])
        self.metrics.dump()
        if method == "HEAD" and response[2]:
            if isinstance(response[2], proxy.Stream):
                await response[2].aclose()
            return response[0], response[1], b""
        return response

    async def _dispatch(
        self, method: str, path: str, query: str, headers: Headers, fields: dict[str, object]
    ) -> tuple[Response, str]:
        if path.startswith(links.PREFIX):
            kind = "metadata" if path.endswith(links.METADATA_SUFFIX) else "file"
            if method not in ("GET", "HEAD"):
                return _text(405, "method not allowed", [("allow", "GET, HEAD")]), kind
            answer = self._file(path, fields)
            if isinstance(answer, proxy.Job):
                return await proxy.fetch(answer, method, headers), kind
            return answer, kind
        if path == "/simple" or path.startswith("/simple/"):
            rest = path[len("/simple/") :]
            kind = "index-root" if rest == "" or path == "/simple" else "index-project"
            if method not in ("GET", "HEAD"):
                return _text(405, "method not allowed", [("allow", "GET, HEAD")]), kind
            if kind == "index-root":
                if path == "/simple":
                    return _redirect(301, "/simple/", query), kind
                return await self._root(query, headers, fields), kind
            return await self._project(rest, query, headers, fields), kind
        if path == "/" and method in ("GET", "HEAD"):
            return _redirect(302, "/simple/", ""), "other"
        if path == ADMIN_RELOAD and self.admin_token:
            return await self._admin_reload(method, headers), "other"
        return _text(404, "not found"), "other"

    async def _admin_reload(self, method: str, headers: Headers) -> Response:
        if method != "POST":
            return _text(405, "method not allowed", [("allow", "POST")])
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _text(401, "bearer token required", [("www-authenticate", 'Bearer realm="pkgate"')])
        if not hmac.compare_digest(token.strip().encode(), self.admin_token.encode()):
            return _text(403, "wrong token")
        if self.reload is None:
            return _text(501, "reload is not available in this worker")
        status, result = await self.reload()
        return (
            status,
            [("content-type", "application/json"), ("cache-control", "no-store")],
            msgspec.json.encode(result),
        )

    # ---- index pages ----------------------------------------------------------------------------

    async def _project(self, rest: str, query: str, headers: Headers, fields: dict[str, object]) -> Response:
        raw, slash, extra = rest.partition("/")
        name = unquote(raw)
        if extra or not is_valid_project_name(name):
            return _text(404, "not found: not a valid project name")
        canonical = normalize(name)
        fields["project"] = canonical
        if raw != canonical or not slash:
            return _redirect(301, _project_url(canonical), query)
        ctype = negotiate.negotiate(headers.get("accept"), _format_param(query))
        if ctype is None:
            return _not_acceptable()
        try:
            got = await self.table.project(canonical)
        except NoRoute:
            return _text(404, f"no such project: {canonical} (no route)")
        except UpstreamNotFound:
            return _text(404, f"no such project: {canonical}")
        except UpstreamError as exc:
            return _text(502, f"upstream error: {exc}")
        signer = self.signer
        owner = got.link_upstream
        served_by = got.upstream

        def link(f: pages.FileLink) -> str:
            up = owner(f) if owner is not None else served_by
            return signer.make(canonical, f.filename, f"{up} {f.url}")

        render_page = _RENDER_PROJECT[ctype]
        return self._page(got, ctype, lambda p: render_page(p, link), headers, fields)

    async def _root(self, query: str, headers: Headers, fields: dict[str, object]) -> Response:
        ctype = negotiate.negotiate(headers.get("accept"), _format_param(query))
        if ctype is None:
            return _not_acceptable()
        try:
            got = await self.table.root()
        except UpstreamError as exc:
            return _text(502, f"upstream error: {exc}")
        render_root = _RENDER_ROOT[ctype]
        return self._page(got, ctype, lambda p: render_root(p, _project_url), headers, fields)

    def _page(
        self,
        got: Resolved,
        ctype: str,
        render: Callable[[Any], bytes],
        headers: Headers,
        fields: dict[str, object],
    ) -> Response:
        """A page answer (200 or 304) in the negotiated type; notes where it came from."""
        entry, state = got.entry, got.state
        self.metrics.cache_state(state)
        fields["upstream"] = got.upstream
        fields["cache"] = state
        fields["failover"] = got.failover
        body, etag = entry.body(ctype, render)
        out = [
            ("content-type", ctype if ctype != negotiate.HTML_LEGACY else "text/html; charset=utf-8"),
            ("etag", etag),
            ("vary", "Accept"),
            ("cache-control", self.cache_control),
            ("x-pkgate-cache", state),
        ]
        if entry.last_modified:
            out.append(("last-modified", entry.last_modified))
        if state == "stale":
            out.append(("warning", '110 - "Response is Stale"'))
        inm = headers.get("if-none-match")
        ims = headers.get("if-modified-since")
        if inm is not None or ims is not None:
            fields["conditional"] = True
        if _not_modified(inm, ims, etag, entry.last_modified):
            return 304, [h for h in out if h[0] != "content-type"], b""
        return 200, out, body

    # ---- files ----------------------------------------------------------------------------------

    def _file(self, path: str, fields: dict[str, object]) -> Response | proxy.Job:
        known = self._files.get(path)
        if known is None:
            resolved = self._resolve_file(path)
            if not isinstance(resolved, _FileTarget):
                return resolved  # a 404 answer
            known = resolved
            if len(self._files) >= _FILE_CACHE_MAX:
                self._files.clear()
            self._files[path] = known
        upstream, target, facts = known
        fields.update(facts)
        proxied = self.table.proxied.get(upstream) if upstream else None
        if proxied is not None:
            return proxy.Job(proxied, target)
        return (
            self.redirect_status,
            [("location", target), ("cache-control", "no-store"), ("content-length", "0")],
            b"",
        )

    def _resolve_file(self, path: str) -> _FileTarget | Response:
        """Verify a file link and work out its target and event fields (or a 404 answer)."""
        parts = path[len(links.PREFIX) :].split("/")
        if len(parts) != 3:
            return _text(404, "not found: malformed file link")
        project, token, quoted = parts
        filename = unquote(quoted)
        is_meta = filename.endswith(links.METADATA_SUFFIX)
        dist = filename[: -len(links.METADATA_SUFFIX)] if is_meta else filename
        try:
            signed = self.signer.verify(project, token, dist)
        except LinkError:
            return _text(404, "not found: unknown or tampered file link")
        upstream, sep, url = signed.partition(" ")
        if not sep:  # a link signed before upstream names were part of it
            upstream, url = "", signed
        facts: dict[str, object] = {"project": project, "filename": dist}
        parsed = parse_filename(dist)
        if parsed is not None:
            facts["version"] = parsed[1]
        if upstream:
            facts["upstream"] = upstream
        return _FileTarget(upstream, links.metadata_url(url) if is_meta else url, facts)

    # ---- operational ----------------------------------------------------------------------------

    def _ops(self, path: str) -> Response:
        lag = pending_frames(self.spool_dir)
        if path == "/healthz":
            body = msgspec.json.encode({"status": "ok", "spool_lag": lag})
            return 200, [("content-type", "application/json"), ("cache-control", "no-store")], body
        self.metrics.dump(force=True)
        text = render(collect(self.metrics.directory), lag)
        return 200, [("content-type", "text/plain; version=0.0.4; charset=utf-8")], text.encode()


def _format_param(query: str) -> str | None:
    """The PEP 691 `?format=` value; bounded work, never raises (other parameters are ignored)."""
    if not query or "format=" not in query:
        return None
    for part in query.split("&", 64)[:64]:
        if part.startswith("format="):
            return unquote_plus(part[len("format=") :])
    return None


def _redirect(status: int, location: str, query: str) -> Response:
    target = location + ("?" + query if query else "")
    return status, [("location", target), ("content-length", "0")], b""


def _not_acceptable() -> Response:
    return _text(
        406,
        "not acceptable: this index serves " + ", ".join(_RENDER_PROJECT),
        [("vary", "Accept")],
    )


def _not_modified(inm: str | None, ims: str | None, etag: str, last_modified: str | None) -> bool:
    """RFC 9110 §13.2.2: If-None-Match wins; If-Modified-Since only when it is absent."""
    if inm is not None:
        if inm.strip() == "*":
            return True
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")[:64]]
        return etag in tags
    if ims is not None and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(ims)
        except (TypeError, ValueError, IndexError):
            return False
    return False


DEMO_CLOCK_HEADER = "x-pkgate-demo-time"
_DEMO_MAX_AGE_US = 31 * 86_400_000_000


def demo_time(value: str | None, peer: str, now: int) -> int:
    """A request's simulated time (epoch microseconds) from `pkgate demo`'s header: honoured only from
    loopback, never in the future, at most 31 days back; anything else is the real time."""
    if value is None or peer not in ("127.0.0.1", "::1") or not (0 < len(value) <= 20 and value.isdigit()):
        return now
    ts = int(value)
    return ts if now - _DEMO_MAX_AGE_US <= ts <= now else now
