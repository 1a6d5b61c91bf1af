"""Prometheus metrics, aggregated across worker processes.

Each worker keeps plain counters in memory and dumps them to `<data_dir>/metrics/<pid>.json` about
once a second; `/metrics` (answered by whichever worker gets it) sums every live worker's dump, so
the figures do not depend on which process the scrape lands on.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import msgspec

from pkgate.fsutil import atomic_write
from pkgate.storestate import StoreState

#: Upper bounds (seconds) of the upstream latency histogram.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Snapshot(msgspec.Struct):
    requests: dict[str, int] = msgspec.field(default_factory=dict)  # "kind|status" -> count
    upstream_requests: dict[str, int] = msgspec.field(default_factory=dict)  # upstream -> count
    upstream_failures: dict[str, int] = msgspec.field(default_factory=dict)
    latency_buckets: dict[str, list[int]] = msgspec.field(default_factory=dict)  # upstream -> counts
    latency_sum: dict[str, float] = msgspec.field(default_factory=dict)
    cache: dict[str, int] = msgspec.field(default_factory=dict)  # state -> count
    spool_errors: int = 0
    spool_failures: dict[str, int] = msgspec.field(default_factory=dict)  # op -> count (events.commit)
    failovers: dict[str, int] = msgspec.field(default_factory=dict)  # "primary|served-by" -> count
    breakers: dict[str, int] = msgspec.field(default_factory=dict)  # upstream -> 0/1/2 (worst worker)
    reloads: dict[str, int] = msgspec.field(default_factory=dict)  # "ok" | "rejected" -> count
    generation: int = 0  # config generation in use (lowest worker: who lags behind)
    workers: int = 0  # set by collect(): live workers with a dump


class Metrics:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.snap = Snapshot()
        self._requests: defaultdict[tuple[str, int], int] = defaultdict(int)
        self._last_dump = 0.0
        self._last_ns = 0
        #: Called at each dump for the current breaker states (set by whoever owns the breakers).
        self.breaker_states: Callable[[], dict[str, int]] | None = None
        #: Called at each dump for the spool's failed operations (set by whoever owns the spool writer).
        self.spool_failures: Callable[[], dict[str, int]] | None = None
        directory.mkdir(parents=True, exist_ok=True)
        self._path = directory / f"{os.getpid()}.json"

    def request(self, kind: str, status: int) -> None:
        self._requests[(kind, status)] += 1

    def upstream(self, name: str, latency: float | None, failed: bool) -> None:
        s = self.snap
        s.upstream_requests[name] = s.upstream_requests.get(name, 0) + 1
        if failed:
            s.upstream_failures[name] = s.upstream_failures.get(name, 0) + 1
        if latency is not None:
            buckets = s.latency_buckets.setdefault(name, [0] * (len(BUCKETS) + 1))
            i = next((i for i, b in enumerate(BUCKETS) if latency <= b), len(BUCKETS))
            buckets[i] += 1
            s.latency_sum[name] = s.latency_sum.get(name, 0.0) + latency

    def cache_state(self, state: str) -> None:
        self.snap.cache[state] = self.snap.cache.get(state, 0) + 1

    def failover(self, primary: str, served_by: str) -> None:
        key = f"{primary}|{served_by}"
        self.snap.failovers[key] = self.snap.failovers.get(key, 0) + 1

    def reload(self, ok: bool, generation: int) -> None:
        key = "ok" if ok else "rejected"
        self.snap.reloads[key] = self.snap.reloads.get(key, 0) + 1
        self.snap.generation = generation

    def dump(self, force: bool = False) -> None:
        """Publish this worker's counters (rate-limited to one write per second)."""
        now = time.monotonic()
        if not force and now - self._last_dump < 1.0:
            return
        self._last_dump = now
        self._write()

    def dump_at(self, now_ns: int) -> None:
        """`dump` on the caller's wall-clock reading (epoch ns): the hot path reads the clock once.
        A clock stepped back dumps at once rather than waiting for it to catch up."""
        if 0 <= now_ns - self._last_ns < 1_000_000_000:
            return
        self._last_ns = now_ns
        self._write()

    def _write(self) -> None:
        self.snap.requests = {f"{k}|{s}": n for (k, s), n in self._requests.items()}
        if self.breaker_states is not None:
            self.snap.breakers = self.breaker_states()
        if self.spool_failures is not None:
            self.snap.spool_failures = self.spool_failures()
        with contextlib.suppress(OSError):
            atomic_write(self._path, msgspec.json.encode(self.snap), fsync=False)

    def remove(self) -> None:
        with contextlib.suppress(OSError):
            self._path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect(directory: Path) -> Snapshot:
    """Sum the dumps of all live workers."""
    total = Snapshot()
    generations: list[int] = []
    for path in directory.glob("*.json"):
        try:
            pid = int(path.stem)
            if not _alive(pid):
                path.unlink()
                continue
            snap = msgspec.json.decode(path.read_bytes(), type=Snapshot)
        except (ValueError, OSError, msgspec.DecodeError):
            continue
        for attr in (
            "requests",
            "upstream_requests",
            "upstream_failures",
            "cache",
            "failovers",
            "reloads",
            "spool_failures",
        ):
            dst: dict[str, int] = getattr(total, attr)
            for k, v in getattr(snap, attr).items():
                dst[k] = dst.get(k, 0) + v
        for k, counts in snap.latency_buckets.items():
            acc = total.latency_buckets.setdefault(k, [0] * len(counts))
            total.latency_buckets[k] = [a + b for a, b in zip(acc, counts, strict=False)]
        for k, v in snap.latency_sum.items():
            total.latency_sum[k] = total.latency_sum.get(k, 0.0) + v
        total.spool_errors += snap.spool_errors
        for k, state in snap.breakers.items():
            total.breakers[k] = max(total.breakers.get(k, 0), state)
        generations.append(snap.generation)
        total.workers += 1
    total.generation = min(generations, default=0)
    return total


def _family(name: str, kind: str, help_text: str, samples: list[tuple[str, object]]) -> list[str]:
    """One metric family: HELP, TYPE, then `name{labels} value` per sample ("" = no labels)."""
    out = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    out += [f"{name}{{{labels}}} {value}" if labels else f"{name} {value}" for labels, value in samples]
    return out


def _by(label: str, values: dict[str, int]) -> list[tuple[str, object]]:
    return [(f'{label}="{k}"', v) for k, v in sorted(values.items())]


def _pairs(first: str, second: str, values: dict[str, int]) -> list[tuple[str, object]]:
    """Counters keyed "a|b" -> two labels."""
    out: list[tuple[str, object]] = []
    for key, n in sorted(values.items()):
        a, _, b = key.partition("|")
        out.append((f'{first}="{a}",{second}="{b}"', n))
    return out


def render(snap: Snapshot, spool_lag: int, store: StoreState | None = None) -> str:
    """Prometheus text exposition format 0.0.4."""
    out = _family(
        "pkgate_requests_total",
        "counter",
        "Requests answered, by kind and status.",
        _pairs("kind", "status", snap.requests),
    )
    out += _family(
        "pkgate_spool_lag_events",
        "gauge",
        "Events spooled but not yet loaded into the store.",
        [("", spool_lag)],
    )
    out += _family(
        "pkgate_spool_errors_total",
        "counter",
        "Requests refused because the spool could not be written.",
        [("", snap.spool_errors)],
    )
    store = store or StoreState()
    out += _family(
        "pkgate_store_rebuilds_total",
        "counter",
        "Stores that failed to open, were moved aside (kept) and rebuilt from the spool.",
        [("", store.rebuilds)],
    )
    out += _family(
        "pkgate_store_rebuilding",
        "gauge",
        "1 while the store is being rebuilt.",
        [("", int(store.rebuilding))],
    )
    out += _family(
        "pkgate_spool_failures_total",
        "counter",
        "Failed spool operations (write, fsync, rollover), summed over workers; each is also logged.",
        _by("op", snap.spool_failures),
    )
    out += _family(
        "pkgate_page_cache_total", "counter", "Index page lookups by cache outcome.", _by("state", snap.cache)
    )
    out += _family(
        "pkgate_upstream_requests_total",
        "counter",
        "Requests sent to each upstream.",
        _by("upstream", snap.upstream_requests),
    )
    out += _family(
        "pkgate_upstream_failures_total",
        "counter",
        "Failed upstream requests (network, timeout, 5xx).",
        _by("upstream", snap.upstream_failures),
    )
    out += _family(
        "pkgate_upstream_breaker_state",
        "gauge",
        "Circuit breaker: 0 closed, 1 half-open, 2 open (worst worker).",
        _by("upstream", snap.breakers),
    )
    up = {k: int(v != 2) for k, v in snap.breakers.items()}
    out += _family(
        "pkgate_upstream_up",
        "gauge",
        "1 when no worker's breaker for the upstream is open.",
        _by("upstream", up),
    )
    out += _family(
        "pkgate_failovers_total",
        "counter",
        "Pages served by a later upstream of the route than the first.",
        _pairs("primary", "upstream", snap.failovers),
    )
    out += _family(
        "pkgate_config_reloads_total",
        "counter",
        "Config reloads applied or rejected, summed over workers.",
        _by("result", snap.reloads),
    )
    out += _family(
        "pkgate_config_generation",
        "gauge",
        "Config generation every worker has applied (lowest worker).",
        [("", snap.generation)],
    )
    out += _family(
        "pkgate_workers", "gauge", "Worker processes currently publishing metrics.", [("", snap.workers)]
    )
    out += [
        "# HELP pkgate_upstream_latency_seconds Upstream response time.",
        "# TYPE pkgate_upstream_latency_seconds histogram",
    ]
    for name, counts in sorted(snap.latency_buckets.items()):
        acc = 0
        for bound, n in zip((*BUCKETS, float("inf")), counts, strict=False):
            acc += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            out.append(f'pkgate_upstream_latency_seconds_bucket{{upstream="{name}",le="{le}"}} {acc}')
        out.append(
            f'pkgate_upstream_latency_seconds_sum{{upstream="{name}"}} {snap.latency_sum.get(name, 0.0)}'
        )
        out.append(f'pkgate_upstream_latency_seconds_count{{upstream="{name}"}} {acc}')
    return "\n".join(out) + "\n"
