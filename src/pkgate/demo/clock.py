"""The demo's simulated time: each request says when it happened (`DEMO_CLOCK_HEADER`).

Only the demo's gateway (`pkgate.demo.gateway`) reads the header; a production gateway has no such
hook and stamps every request with the real time. Even there it is honoured only from loopback,
never in the future and at most 31 days back.
"""

from __future__ import annotations

from typing import Final

from pkgate.edge.recorder import Headers
from pkgate.events import now_us

__all__ = ["DEMO_CLOCK_HEADER", "demo_clock", "demo_time"]

#: The header carrying a request's simulated time (epoch microseconds); see docs/dashboard.md.
DEMO_CLOCK_HEADER: Final = "x-pkgate-demo-time"
_MAX_AGE_US: Final = 31 * 86_400_000_000


def demo_time(value: str | None, peer: str, now: int) -> int:
    """A request's simulated time from the header's `value`, or `now` when it does not qualify."""
    if value is None or peer not in ("127.0.0.1", "::1") or not (0 < len(value) <= 20 and value.isdigit()):
        return now
    ts = int(value)
    return ts if now - _MAX_AGE_US <= ts <= now else now


def demo_clock(headers: Headers, peer: str) -> int:
    """The gateway's `Clock` hook for the demo."""
    return demo_time(headers.get(DEMO_CLOCK_HEADER), peer, now_us())
