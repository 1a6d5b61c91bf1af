"""Asking a route's upstreams, for every ecosystem: in order with failover, or all of them (merge).

In order (`first_of`): timeouts, connection errors, 5xx, bad documents and open circuit breakers
move on to the next upstream; a 404 ends the search only when the upstream that said it is
`authoritative`, and is the answer only if nothing failed (an upstream failure never becomes a
404). When every upstream fails, the freshest stale copy (in route order) is served; when there is
none, UpstreamError (the caller answers 502). A merge (`each_of` per upstream) needs every upstream
to answer, fresh or stale, since a document missing the private half would be a wrong answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, NamedTuple, TypeVar

from pkgate.edge.breaker import Breaker
from pkgate.edge.client import UpstreamClient
from pkgate.errors import UpstreamError, UpstreamNotFound

__all__ = ["NoRoute", "Pick", "UpstreamHandle", "each_of", "first_of", "worst_state"]

C = TypeVar("C")  # an ecosystem's document cache
T = TypeVar("T")  # what a fetch gives

_WORST: Final = {"hit": 0, "revalidated": 1, "miss": 2, "stale": 3}


class NoRoute(UpstreamNotFound):
    """No rule claims the project and there is no default upstream."""


@dataclass(eq=False)
class UpstreamHandle(Generic[C]):
    """One configured upstream as a worker uses it: its HTTP client and its ecosystem's cache."""

    name: str
    client: UpstreamClient
    cache: C
    mode: str  # "redirect" | "proxy"
    authoritative: bool
    signature: tuple[object, ...]  # what must stay equal for a reload to keep client and cache

    @property
    def breaker(self) -> Breaker:
        return self.client.breaker


class Pick(NamedTuple, Generic[T]):
    """Which upstream of the route answered, and how; `position > 0` is a failover."""

    name: str
    got: T
    position: int  # in the route


#: Told of each upstream's outcome: (handle, what it gave or None, whether it failed).
Note = Callable[[UpstreamHandle[C], T | None, bool], None]


async def first_of(
    handles: Sequence[UpstreamHandle[C]],
    fetch: Callable[[C], Awaitable[T]],
    stale: Callable[[C], T | None],
    note: Note[C, T],
    what: str,
) -> Pick[T]:
    """The first upstream that answers, else the first stale copy; raises UpstreamNotFound when
    none has `what` and none failed, UpstreamError when all failed with nothing stale."""
    failed: list[str] = []
    for i, up in enumerate(handles):
        try:
            got = await fetch(up.cache)
        except UpstreamNotFound:
            if up.authoritative:
                raise
            continue
        except UpstreamError as exc:
            note(up, None, True)
            failed.append(str(exc))
            continue
        note(up, got, False)
        return Pick(up.name, got, i)
    if not failed:
        raise UpstreamNotFound(f"no upstream of the route has {what}")
    for i, up in enumerate(handles):
        old = stale(up.cache)
        if old is not None:
            return Pick(up.name, old, i)
    raise UpstreamError("; ".join(failed))


async def each_of(
    up: UpstreamHandle[C],
    fetch: Callable[[C], Awaitable[T]],
    stale: Callable[[C], T | None],
    note: Note[C, T],
) -> T | None:
    """One upstream's part of a merge: its answer, its stale copy when it fails, None when it does
    not have it; raises UpstreamError when it fails with nothing stale."""
    try:
        got = await fetch(up.cache)
    except UpstreamNotFound:
        return None
    except UpstreamError:
        note(up, None, True)
        old = stale(up.cache)
        if old is None:
            raise
        return old
    note(up, got, False)
    return got


def worst_state(states: Sequence[str]) -> str:
    """The cache state of a document built from several ("stale" beats "miss" beats "hit")."""
    return max(states, key=_WORST.__getitem__, default="hit")
