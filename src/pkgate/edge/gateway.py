"""The gateway's request handling, independent of the server interface (ASGI or RSGI).

`Gateway.handle` maps one request to a `Response` and records it. The gateway itself answers
`/healthz` and `/metrics` (operational, not recorded) and `POST /admin/reload` (bearer token;
recorded as kind `other`, an audit trail); every other path goes to the ecosystem that claims it
(`registry.Ecosystems`: exact paths, then the longest prefix), and a path nobody claims is a 404
(kind `other`, recorded with ecosystem "gateway"). The body is bytes, or a `proxy.Stream` for
proxied files.

File links are signed by their ecosystem; once one verifies, the gateway keeps all its per-link
work in a memo keyed by path: the finished redirect, the kind, and the link's first event
pre-encoded (`recorder.Template`). Every later request for it costs one dict lookup, one clock read
and filling in the per-request fields of its event (no HMAC, no filename parsing, no ecosystem
code, no `Event` object); it is recorded with `duration_us` 0, answered from memory. The memo is
cleared on reload and when full.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final, NamedTuple

import msgspec

from pkgate.edge import proxy
from pkgate.edge.answers import text
from pkgate.edge.brake import FailureBrake
from pkgate.edge.ecosystem import OTHER, Facts, FileTarget, Request, Response
from pkgate.edge.metrics import Metrics, collect, render
from pkgate.edge.recorder import Headers, Recorder, Template
from pkgate.edge.registry import Ecosystems
from pkgate.errors import SpoolError
from pkgate.events.spool import pending_frames
from pkgate.storestate import read_state

__all__ = ["ADMIN_RELOAD", "Clock", "Gateway", "ReloadHook", "Response"]

#: Reload the config; (HTTP status, JSON-able result). Provided by the worker (`reloader.py`).
ReloadHook = Callable[[], Awaitable[tuple[int, dict[str, object]]]]
#: A request's timestamp (epoch microseconds) from its headers and peer address, instead of now:
#: injected by `pkgate demo` (pkgate.demo.clock) to play simulated days; None in production.
Clock = Callable[[Headers, str], int]
ADMIN_RELOAD: Final = "/admin/reload"
#: Event.ecosystem of requests no ecosystem claims (404s, the admin endpoint).
GATEWAY: Final = "gateway"
#: Memoised links (~1.2 KB each with their path, measured: bench/README.md), cleared when full.
_FILE_CACHE_MAX: Final = 32_768
_NO_STORE: Final = ("cache-control", "no-store")
_NO_BODY: Final = ("content-length", "0")
_UNRECORDED: Final = text(503, "cannot record request; try again", [("retry-after", "1")])


class _Known:
    """A memoised file link: all its per-link work done once (see the module docstring)."""

    __slots__ = ("ecosystem", "kind", "path", "response", "target", "template")

    def __init__(self, target: FileTarget, ecosystem: str, path: str, response: Response | None) -> None:
        self.target: FileTarget | None = target  # dropped once templated: ~1/3 of an entry's memory
        self.ecosystem = ecosystem
        self.kind = target.kind
        self.path = path  # what its events record as the path
        self.response = response  # the finished redirect (None: proxied, fetched per request)
        self.template: Template | None = None  # its event, pre-encoded, once one was built


class _Routed(NamedTuple):
    response: Response
    kind: str
    ecosystem: str
    facts: Facts
    path: str  # what the event records as the path
    known: _Known | None = None  # a redirect memoised by this request (to template)


class Gateway:
    """Everything one worker needs to answer requests."""

    def __init__(
        self,
        ecosystems: Ecosystems,
        recorder: Recorder,
        metrics: Metrics,
        spool_dir: Path,
        redirect_status: int = 302,
        admin_token: str = "",
        reload: ReloadHook | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.ecosystems = ecosystems
        self.recorder = recorder
        self.metrics = metrics
        self.spool_dir = spool_dir
        self.redirect_status = redirect_status
        self.admin_token = admin_token
        self.reload = reload
        # path -> verified file link: the hot path then costs one dict lookup instead of HMAC +
        # filename parsing. Cleared on reload and when full.
        self._files: dict[str, _Known] = {}
        self.clock = clock
        # Templated events need the real clock and no access log (which prints whole events).
        self._lean = clock is None and not recorder.access_log
        self.brake = FailureBrake()  # failed admin-token checks per address
        metrics.breaker_states = self._breaker_states
        metrics.spool_failures = lambda: recorder.committer.failures

    def apply(self, ecosystems: Ecosystems, redirect_status: int, admin_token: str) -> None:
        """Switch to new ecosystems and settings (one assignment each; no await in between)."""
        self.ecosystems = ecosystems
        self.redirect_status = redirect_status
        self.admin_token = admin_token
        self._files = {}

    def _breaker_states(self) -> dict[str, int]:
        return {name: up.breaker.state for eco in self.ecosystems.all for name, up in eco.upstreams.items()}

    async def handle(self, method: str, path: str, query: str, headers: Headers, peer: str) -> Response:
        """Answer and record one request; `peer` is the client's address without port."""
        known = self._files.get(path)
        if known is not None and (method == "GET" or method == "HEAD"):
            template = known.template
            if template is not None:  # the hot path: a memoised redirect, one clock read
                now = time.time_ns()
                response = known.response
                assert response is not None  # templates are made for redirects only
                self.metrics.request(known.kind, response[0])  # counted as the slow path does
                try:
                    await self.recorder.record_known(template, now, method, headers, peer)
                except SpoolError:
                    self.metrics.snap.spool_errors += 1
                    return _UNRECORDED
                self.metrics.dump_at(now)
                return response
        started = time.perf_counter_ns()
        now = time.time_ns()
        ts = now // 1000 if self.clock is None else self.clock(headers, peer)
        record_path = path
        if known is not None and (method == "GET" or method == "HEAD"):
            target = known.target
            assert target is not None  # kept until the entry is templated
            response = known.response or await self._file(target, method, headers)
            kind, facts, ecosystem, record_path = known.kind, target.facts, known.ecosystem, known.path
            known = known if known.template is None and known.response is not None else None
        elif path == "/healthz" or path == "/metrics":
            return self._ops(path)
        else:
            facts = Facts()
            try:
                response, kind, ecosystem, facts, record_path, known = await self._dispatch(
                    method, path, query, headers, facts, peer
                )
            except Exception:  # last line of defence: never a traceback to the client, always an event
                logging.getLogger("pkgate.edge").exception("unhandled error for %s %s", method, path[:200])
                response, kind, ecosystem, known = text(500, "internal error"), OTHER, GATEWAY, None
        status = response[0]
        event = self.recorder.build(
            ts_us=ts,
            duration_us=(time.perf_counter_ns() - started) // 1000,
            method=method,
            path=record_path,
            kind=kind,
            status=status,
            headers=headers,
            peer=peer,
            project=facts.project,
            version=facts.version,
            filename=facts.filename,
            conditional=facts.conditional,
            upstream=facts.upstream,
            cache=facts.cache,
            failover=facts.failover,
            ecosystem=ecosystem,
            platform=facts.platform,
            digest=facts.digest,
            command=facts.command,
            now_ns=now,
        )
        if known is not None and self._lean:
            known.template = self.recorder.template(event)
            known.target = None  # the template and the response hold all that is needed now
        self.metrics.request(kind, status)
        try:
            await self.recorder.record(event)
        except SpoolError:
            # Not recorded means not answered: the client sees a retryable error, not a lie.
            self.metrics.snap.spool_errors += 1
            if isinstance(response[2], proxy.Stream):
                await response[2].aclose()
            return _UNRECORDED
        self.metrics.dump_at(now)
        if method == "HEAD" and response[2]:
            if isinstance(response[2], proxy.Stream):
                await response[2].aclose()
            return Response(response[0], response[1], b"")
        return response

    async def _dispatch(
        self, method: str, path: str, query: str, headers: Headers, facts: Facts, peer: str = ""
    ) -> _Routed:
        if path == ADMIN_RELOAD and self.admin_token:
            return _Routed(await self._admin_reload(method, headers, peer), OTHER, GATEWAY, facts, path)
        eco = self.ecosystems.find(path)
        if eco is None:
            return _Routed(text(404, "not found"), OTHER, GATEWAY, facts, path)
        answer, kind = await eco.handle(Request(method, path, query, headers), facts)
        if isinstance(answer, FileTarget):
            if len(self._files) >= _FILE_CACHE_MAX:
                self._files.clear()
            redirect = None if answer.proxy is not None else self._redirect(answer.target, answer.status)
            known = self._files[path] = _Known(answer, eco.name, answer.path or path, redirect)
            response = redirect or await self._file(answer, method, headers)
            return _Routed(response, kind, eco.name, answer.facts, known.path, known if redirect else None)
        return _Routed(answer, kind, eco.name, facts, path)

    def _redirect(self, location: str, status: int = 0) -> Response:
        """The finished redirect, shared by every request of the link (never changed); `status`
        0 is `gateway.redirect_status` (OCI blobs ask for 307)."""
        return Response(
            status or self.redirect_status,
            [("location", location), _NO_STORE, _NO_BODY],
            b"",
        )

    async def _file(self, target: FileTarget, method: str, headers: Headers) -> Response:
        if target.proxy is not None:
            return await proxy.fetch(proxy.Job(target.proxy, target.target), method, headers)
        return self._redirect(target.target, target.status)

    async def _admin_reload(self, method: str, headers: Headers, peer: str) -> Response:
        if method != "POST":
            return text(405, "method not allowed", [("allow", "POST")])
        wait = self.brake.retry_after(peer)
        if wait:
            return text(429, "too many failed token checks; retry later", [("retry-after", str(wait))])
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return text(401, "bearer token required", [("www-authenticate", 'Bearer realm="pkgate"')])
        # Constant time: how long the check takes must not tell how much of a guess was right.
        if not hmac.compare_digest(token.strip().encode("utf-8", "replace"), self.admin_token.encode()):
            self.brake.failed(peer)
            return text(403, "wrong token")
        if self.reload is None:
            return text(501, "reload is not available in this worker")
        status, result = await self.reload()
        return Response(
            status,
            [("content-type", "application/json"), ("cache-control", "no-store")],
            msgspec.json.encode(result),
        )

    # ---- operational ----------------------------------------------------------------------------

    def _ops(self, path: str) -> Response:
        lag = pending_frames(self.spool_dir)
        store = read_state(self.spool_dir.parent)  # moved aside and rebuilt? (pkgate.storestate)
        if path == "/healthz":
            body = msgspec.json.encode({"status": "ok", "spool_lag": lag, "store": store})
            return Response(200, [("content-type", "application/json"), ("cache-control", "no-store")], body)
        self.metrics.dump(force=True)
        out = render(collect(self.metrics.directory), lag, store)
        return Response(200, [("content-type", "text/plain; version=0.0.4; charset=utf-8")], out.encode())
