"""Serve the dashboard app in this process (uvicorn), in the foreground or on a background thread.

One process, one event loop: the app only reads the store, so it needs neither granian's workers nor
the gateway's supervisor. The access log stays off: it would print client addresses.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import uvicorn

__all__ = ["BackgroundServer", "serve_forever"]


def _config(app: Any, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, access_log=False, log_level=logging.WARNING, lifespan="off", loop="asyncio"
    )


def serve_forever(app: Any, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM."""
    uvicorn.Server(_config(app, host, port)).run()


class BackgroundServer:
    """The app on a daemon thread (for `pkgate demo` and tests); `port=0` picks a free port."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = uvicorn.Server(_config(app, host, port))
        self._thread = threading.Thread(target=self._server.run, name="pkgate-dashboard", daemon=True)
        self.host = host

    @property
    def port(self) -> int:
        for server in self._server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        raise RuntimeError("server not started")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
