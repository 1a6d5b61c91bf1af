"""Single-flight: concurrent requests for the same key share one upstream fetch.

The first caller runs the fetch; the others await its result (or its exception). Waiters are
shielded, so one of them being cancelled does not cancel the fetch the others are waiting for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["SingleFlight"]

K = TypeVar("K")
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._inflight: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    async def run(self, key: K, fetch: Callable[[], Awaitable[V]]) -> V:
        fut = self._inflight.get(key)
        if fut is not None:
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            result = await fetch()
            fut.set_result(result)
            return result
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: there may be no waiters
            raise
        finally:
            del self._inflight[key]
