"""The circuit breaker: opens after N consecutive failures, one probe after the cooldown."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pkgate.edge.breaker import CLOSED, HALF_OPEN, OPEN, Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures() -> None:
    clock = Clock()
    b = Breaker(3, 10.0, clock)
    b.failure()
    b.failure()
    b.success()  # resets the run
    b.failure()
    b.failure()
    assert b.state == CLOSED
    assert b.allow()
    b.failure()
    assert b.state == OPEN
    assert not b.allow()


def test_half_open_lets_one_probe_through() -> None:
    clock = Clock()
    b = Breaker(1, 10.0, clock)
    b.failure()
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.2
    assert b.state == HALF_OPEN
    assert b.allow()
    assert not b.allow()  # a probe is in flight
    b.failure()  # the probe failed: open for another cooldown
    assert b.state == OPEN
    clock.now += 10.0
    assert b.allow()
    b.success()
    assert b.state == CLOSED
    assert b.allow()
    assert b.allow()


def test_abandoned_probe_frees_the_slot() -> None:
    clock = Clock()
    b = Breaker(1, 1.0, clock)
    b.failure()
    clock.now += 1.0
    assert b.allow()
    b.abandon()
    assert b.allow()


@given(st.lists(st.sampled_from(["ok", "fail", "tick", "allow"]), max_size=60), st.integers(1, 5))
def test_never_open_without_threshold_failures(ops: list[str], threshold: int) -> None:
    """Property: the breaker opens only after `threshold` failures in a row (or a failed probe)."""
    clock = Clock()
    b = Breaker(threshold, 5.0, clock)
    run = 0
    was_open = False
    for op in ops:
        if op == "ok":
            b.success()
            run, was_open = 0, False
        elif op == "fail":
            probing = b.probing
            b.failure()
            run += 1
            if b.state != CLOSED:
                assert run >= threshold or probing or was_open
                was_open = True
        elif op == "tick":
            clock.now += 3.0
        else:
            allowed = b.allow()
            if not was_open:
                assert allowed
