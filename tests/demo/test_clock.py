"""The demo clock: simulated request times, honoured only where they are harmless."""

from __future__ import annotations

from pkgate.demo.clock import DEMO_CLOCK_HEADER, demo_clock, demo_time
from pkgate.events import now_us


def test_demo_time_only_from_loopback_and_in_range() -> None:
    now = now_us()
    day = 86_400_000_000
    assert demo_time(str(now - day), "127.0.0.1", now) == now - day
    assert demo_time(str(now - day), "::1", now) == now - day
    assert demo_time(str(now - day), "10.0.0.1", now) == now  # not loopback
    assert demo_time(str(now + day), "127.0.0.1", now) == now  # future
    assert demo_time(str(now - 40 * day), "127.0.0.1", now) == now  # too old
    assert demo_time("-5", "127.0.0.1", now) == now
    assert demo_time("1" * 30, "127.0.0.1", now) == now
    assert demo_time(None, "127.0.0.1", now) == now


def test_the_hook_reads_the_header() -> None:
    day = 86_400_000_000
    then = now_us() - day
    assert demo_clock({DEMO_CLOCK_HEADER: str(then)}, "127.0.0.1") == then
    assert demo_clock({DEMO_CLOCK_HEADER: str(then)}, "192.0.2.1") > then  # not loopback: now
