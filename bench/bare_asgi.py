"""The Python ceiling under ASGI (granian ASGI or uvicorn): the gateway's file redirect, nothing else.

Headers are pre-encoded once, as any lean ASGI app would do; lifespan is acknowledged so both
servers start the same way they start the gateway.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

LOCATION: Final = b"https://files.example.org/packages/ab/cd/ef/example-1.0-py3-none-any.whl"
_START: Final = {
    "type": "http.response.start",
    "status": 302,
    "headers": [(b"location", LOCATION), (b"cache-control", b"no-store"), (b"content-length", b"0")],
}
_BODY: Final = {"type": "http.response.body", "body": b""}

Message = MutableMapping[str, Any]


async def app(
    scope: Message, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    """ASGI entry point."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http":
        await send(_START)
        await send(_BODY)
