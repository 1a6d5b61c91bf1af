"""A circuit breaker per upstream: stop waiting on an upstream that keeps failing.

Closed: requests flow; `threshold` consecutive failures open it. Open: requests are refused (the
caller fails over at once instead of waiting for a timeout) until `cooldown` has passed; then one
probe is let through (half-open). The probe's success closes the breaker, its failure re-opens it
for another cooldown. A 404 is an answer, so it counts as success.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "Breaker"]

CLOSED: Final = 0
HALF_OPEN: Final = 1
OPEN: Final = 2


class Breaker:
    def __init__(
        self, threshold: int = 5, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0  # consecutive
        self.opened_at = 0.0
        self.probing = False
        self._open = False

    @property
    def state(self) -> int:
        """CLOSED, HALF_OPEN (cooldown over, or a probe in flight) or OPEN."""
        if not self._open:
            return CLOSED
        if self.probing or self.clock() - self.opened_at >= self.cooldown:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """May a request go to the upstream now? In half-open, only one probe at a time."""
        if not self._open:
            return True
        if self.probing or self.clock() - self.opened_at < self.cooldown:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        self.failures = 0
        self._open = False
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self._open = True
            self.opened_at = self.clock()
        self.probing = False

    def abandon(self) -> None:
        """The request ended without a verdict (cancelled): let the next one probe."""
        self.probing = False
