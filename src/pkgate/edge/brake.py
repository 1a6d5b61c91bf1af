"""A brake on guessing the admin token: failed checks per client address, in memory only.

After `max_failures` wrong tokens within `window` seconds an address is refused (429)
until that window ends, so a token cannot be guessed at the speed of the server. Memory is bounded
(oldest addresses dropped first); the addresses never leave the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

__all__ = ["FailureBrake"]

_MAX_TRACKED: Final = 10_000


class FailureBrake:
    def __init__(
        self, max_failures: int = 20, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._seen: dict[str, tuple[float, int]] = {}  # address -> (window start, failures)

    def retry_after(self, address: str) -> int:
        """0 if `address` may try now, else the seconds until it may."""
        got = self._seen.get(address)
        if got is None:
            return 0
        start, count = got
        left = start + self.window - self.clock()
        if left <= 0:
            del self._seen[address]
            return 0
        return max(1, int(left + 0.999)) if count >= self.max_failures else 0

    def failed(self, address: str) -> None:
        now = self.clock()
        start, count = self._seen.get(address, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if address not in self._seen and len(self._seen) >= _MAX_TRACKED:
            del self._seen[next(iter(self._seen))]
        self._seen[address] = (start, count + 1)
