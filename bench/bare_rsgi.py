"""The Python ceiling under granian RSGI: answer every request with the gateway's file redirect.

Same server, interface and response shape (status, headers) as the gateway's `/files/...` path,
with no routing, verification or recording, so `gateway / bare` is what pkgate's own work costs.
"""

from __future__ import annotations

from typing import Any, Final

LOCATION: Final = "https://files.example.org/packages/ab/cd/ef/example-1.0-py3-none-any.whl"
HEADERS: Final = [("location", LOCATION), ("cache-control", "no-store"), ("content-length", "0")]


async def app(scope: Any, protocol: Any) -> None:
    """RSGI entry point (granian calls it once per request)."""
    protocol.response_empty(302, HEADERS)
