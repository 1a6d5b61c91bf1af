"""Assembly of one gateway worker and its two server interfaces.

`RSGIApp` is what `pkgate serve` runs under granian (the leanest hot path measured, see
bench/README.md); `ASGIApp` serves the same `Gateway` to any ASGI server and to in-process tests.
Both are built in each worker from the published config (`PKGATE_ACTIVE_CONFIG`, see published.py)
under `pkgate serve`, else from the file named by `PKGATE_CONFIG` (plus env overrides). Proxied
file bodies are streamed with both interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import faulthandler
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from types import FrameType
from typing import Any, Final, NamedTuple

import httpx

from pkgate import config as config_mod
from pkgate.config import Config
from pkgate.edge import registry
from pkgate.edge.clientip import ClientIP
from pkgate.edge.ecosystem import Build
from pkgate.edge.gateway import Clock, Gateway
from pkgate.edge.links import LinkSigner
from pkgate.edge.metrics import Metrics
from pkgate.edge.proxy import Stream
from pkgate.edge.published import ACTIVE_ENV, read_published
from pkgate.edge.recorder import Recorder
from pkgate.edge.reloader import Reloader
from pkgate.edge.secret import load_retired, load_secret
from pkgate.enrich.geo import Enricher
from pkgate.events.commit import GroupCommitter
from pkgate.events.spool import SegmentWriter


class Worker:
    """One process's gateway: started inside its event loop, closed on shutdown."""

    def __init__(
        self,
        cfg: Config,
        source: str | None = None,
        active: Path | None = None,
        generation: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock  # None: requests are stamped with the real time
        self.source = source  # the config file an admin reload re-reads
        self.active = active  # the published config file to follow (under `pkgate serve`)
        self.generation = generation  # of `cfg`, when it came from `active`
        self.gateway: Gateway | None = None
        self.reloader: Reloader | None = None
        self._client: httpx.AsyncClient | None = None
        self._committer: GroupCommitter | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> Gateway:
        cfg = self.cfg
        writer_id = f"{_safe(cfg.gateway_id)}-{os.getpid()}-{time.time_ns() // 1_000_000}"
        writer = SegmentWriter(cfg.paths.spool, writer_id, cfg.storage.segment_bytes)
        self._committer = GroupCommitter(writer, cfg.storage.fsync, cfg.storage.fsync_interval)
        self._committer.start()
        self._client = httpx.AsyncClient(
            timeout=cfg.gateway.upstream_timeout,
            follow_redirects=True,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"user-agent": "pkgate/0.1 (+https://github.com/pkgate)"},
        )
        metrics = Metrics(cfg.data_dir / "metrics")
        generation = self.generation
        signer = LinkSigner(load_secret(cfg), load_retired(cfg))
        ecosystems = registry.build(Build(cfg, self._client, signer, metrics, generation))
        enricher = Enricher(
            cfg.data_dir,
            asn_db=Path(cfg.privacy.asn_db) if cfg.privacy.asn_db else None,
            cloud_ranges=[Path(p) for p in cfg.privacy.cloud_ranges],
            builtin_asn=cfg.privacy.builtin_asn,
        )
        recorder = Recorder(
            cfg.gateway_id,
            self._committer,
            enricher,
            ClientIP(cfg.privacy.trusted_proxies, header=cfg.privacy.forwarded_header),
            cfg.server.access_log,
        )
        self.gateway = Gateway(
            ecosystems,
            recorder,
            metrics,
            cfg.paths.spool,
            cfg.gateway.redirect_status,
            cfg.gateway.admin_token,
            clock=self.clock,
        )
        self.reloader = Reloader(
            self.gateway, self._client, signer, cfg, self.source, self.active, generation
        )
        self.gateway.reload = self.reloader.admin
        if self.active is not None:
            self._watcher = asyncio.get_running_loop().create_task(self.reloader.watch())
        return self.gateway

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.gateway is not None:
            self.gateway.metrics.remove()
        if self._committer is not None:
            await self._committer.aclose()
        if self._client is not None:
            await self._client.aclose()


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in text)[:64] or "gw"


def _peer(client: str) -> str:
    """`1.2.3.4:5678` or `[::1]:5678` (granian's form) -> the address without port or brackets."""
    if client.startswith("["):
        return client[1:].split("]", 1)[0]
    if client.count(":") == 1:
        return client.split(":", 1)[0]
    return client


def _tune_gc() -> None:
    """Fewer, cheaper collections on the hot path: the startup heap (modules, config, tables) is
    frozen out of the collector, and young-generation collections run every 20k allocations
    instead of 700 (requests allocate many short-lived, acyclic objects)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


# ---- RSGI (granian) -------------------------------------------------------------------------------


class _App:
    """What both server interfaces hold: the worker, and its gateway once started."""

    def __init__(
        self,
        cfg: Config,
        source: str | None = None,
        active: Path | None = None,
        generation: int = 0,
        clock: Clock | None = None,
    ) -> None:
        self.worker = Worker(cfg, source, active, generation, clock)
        self.gateway: Gateway | None = None
        self.supervised = active is not None  # a worker of `pkgate serve`

    def _started(self) -> None:
        if self.supervised:
            with contextlib.suppress(ValueError):  # not the main thread: no watchdog
                watch_stop(self.worker.cfg.server.stop_timeout)


#: The signals granian stops a worker with.
_STOPS: Final = {signal.SIGTERM, signal.SIGINT}


def watch_stop(grace: float) -> None:
    """From now on, a stop signal also arms a watchdog: a worker not gone `grace` seconds later
    prints every thread's stack and ends (`_exit(1)`). Granian's worker can hang for good in its own
    stop handling (its signal callback, on a futex, the GIL held: no Python thread runs then; seen
    after a `kill -9` of the supervisor, 1 run in 12), and an orphan has no supervisor to kill it.
    faulthandler's watchdog is a C thread. Ending a worker loses nothing: events are spooled before
    answers. This handler is added beside granian's, which the event loop still calls (its wakeup
    fd carries the signal). Main thread only, as signal handlers are."""

    def on_stop(signum: int, frame: FrameType | None) -> None:
        faulthandler.dump_traceback_later(grace, exit=True)

    for sig in _STOPS:
        signal.signal(sig, on_stop)


class RSGIApp(_App):
    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # A stop signal that arrives inside this hook either hangs granian's worker for good (a
        # futex in its signal callback, while the loop runs here) or is lost (once it has run):
        # a worker then serves on, and granian's supervisor waits for it for ever. Stops come
        # while workers start: `stop_with_supervisor`'s SIGTERM when the supervisor dies, and
        # granian's own when the gateway is stopped then. So signals wait until the worker is
        # up; a worker asked to stop meanwhile has served nothing, and leaves at once
        # (tests/e2e/test_crash.py).
        parent = os.getppid()
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            self.gateway = loop.run_until_complete(self.worker.start())
            _tune_gc()
            self._started()
            if signal.sigpending() & _STOPS or os.getppid() != parent:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(self.worker.close())
                os._exit(0)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.worker.close())

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        if scope.proto != "http":
            return
        gateway = self.gateway
        if gateway is None:
            protocol.response_str(503, [("content-type", "text/plain")], "starting\n")
            return
        status, headers, body = await gateway.handle(
            scope.method, scope.path, scope.query_string, scope.headers, _peer(scope.client)
        )
        if type(body) is bytes:
            if body:
                protocol.response_bytes(status, headers, body)
            else:
                protocol.response_empty(status, headers)
            return
        await _rsgi_stream(protocol, status, headers, body)


async def _rsgi_stream(protocol: Any, status: int, headers: list[tuple[str, str]], body: Any) -> None:
    stream: Stream = body
    try:
        transport = protocol.response_stream(status, headers)
        async for chunk in stream:
            await transport.send_bytes(chunk)
    except Exception as exc:  # client gone or upstream broke mid-body: nothing more can be sent
        logging.getLogger("pkgate.edge").info("proxied body cut short: %s", type(exc).__name__)
    finally:
        await stream.aclose()


class Launch(NamedTuple):
    """What a worker is started from."""

    cfg: Config
    source: str | None  # the config file an admin reload re-reads
    active: Path | None  # the published config to follow
    generation: int


#: prctl(2) option: the signal this process gets when the thread that made it dies.
_PR_SET_PDEATHSIG = 1


def stop_with_supervisor() -> bool:
    """Have this worker stopped (SIGTERM, as granian stops a worker) when the `pkgate serve`
    supervisor dies, even by `kill -9`: an orphaned worker would go on answering and writing a spool
    segment that the next supervisor seals. Granian makes its workers from its main thread, which
    lives as long as the supervisor. Linux only; False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() == 1:  # the supervisor died before the request was made
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def from_env() -> Launch:
    """The worker's config: the published one under `pkgate serve`, else `PKGATE_CONFIG`."""
    active = os.environ.get(ACTIVE_ENV) or None
    source = os.environ.get("PKGATE_CONFIG") or None
    if active is None:
        return Launch(config_mod.load(source), source, None, 0)
    stop_with_supervisor()
    # `kill -USR1` prints every thread's stack, as the supervisor's does: a worker that does not stop
    # is shown so before it is killed (server/stopping.py).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    cfg, generation = read_published(Path(active))
    return Launch(cfg, source, Path(active), generation)


def rsgi_app() -> RSGIApp:
    """Factory used by granian (`--factory`): reads the config from the environment."""
    return RSGIApp(*from_env())


# ---- ASGI -------------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class _ASGIHeaders:
    __slots__ = ("_d",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        d: dict[str, str] = {}
        for k, v in raw:
            key = k.decode("latin-1").lower()
            d[key] = d[key] + ", " + v.decode("latin-1") if key in d else v.decode("latin-1")
        self._d = d

    def get(self, key: str, default: str | None = None) -> str | None:
        return self._d.get(key, default)


class ASGIApp(_App):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if self.gateway is None:  # servers without lifespan support
            self.gateway = await self.worker.start()
        client = scope.get("client")
        peer = client[0] if client else ""
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope["path"]
        status, headers, body = await self.gateway.handle(
            scope["method"],
            path,
            scope.get("query_string", b"").decode("latin-1"),
            _ASGIHeaders(scope["headers"]),
            peer,
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            }
        )
        if type(body) is bytes:
            await send({"type": "http.response.body", "body": body})
            return
        stream: Stream = body  # type: ignore[assignment]
        try:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await stream.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.gateway = await self.worker.start()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                self._started()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.worker.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def asgi_app() -> ASGIApp:
    return ASGIApp(*from_env())
