"""ASGI middleware of `pkgate dashboard`: security headers on every answer, and a brake on token guessing.

The pages set their own Content-Security-Policy (app.py); everything else (API answers, 404s,
redirects) gets a deny-all policy, `frame-ancestors 'none'` and `nosniff` here, so no response can
be framed or sniffed into HTML. Wrong tokens (a request that sent one and got 401/403; a request
without any guesses nothing) are counted per client address (in memory only, like
every address in pkgate): after `max_failures` within `window` seconds that address gets 429 with
`Retry-After` until the window ends, whatever token it sends, so a token cannot be guessed at the
speed of the server. Behind a reverse proxy all clients share the proxy's address and its budget.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["SECURITY_HEADERS", "Guard"]

SECURITY_HEADERS: Final = {
    b"content-security-policy": b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
}
_MAX_TRACKED: Final = 10_000


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        max_failures: int = 20,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, tuple[float, int]] = {}  # address -> (window start, count)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else ""
        now = self.clock()
        start, count = self._failures.get(address, (now, 0))
        if now - start >= self.window:
            self._failures.pop(address, None)
            start, count = now, 0
        if count >= self.max_failures and scope["path"].startswith("/api/"):
            retry = max(1, int(start + self.window - now + 0.999))
            await _too_many(send, retry)
            return

        guessed = any(k.lower() == b"authorization" for k, _ in scope.get("headers", []))

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if guessed and message["status"] in (401, 403):
                    self._failed(address, now)
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, guarded_send)

    def _failed(self, address: str, now: float) -> None:
        start, count = self._failures.get(address, (now, 0))
        if address not in self._failures and len(self._failures) >= _MAX_TRACKED:
            del self._failures[next(iter(self._failures))]  # oldest first: bounded memory
        self._failures[address] = (start, count + 1)


async def _too_many(send: Send, retry: int) -> None:
    body = b'{"error":"too many failed token checks from this address; retry later"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry).encode()),
        (b"cache-control", b"no-store"),
        *SECURITY_HEADERS.items(),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
