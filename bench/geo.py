"""CPU µs per geo lookup of a not-yet-seen address: the integer path against the old `ipaddress` one.

    .venv/bin/python bench/geo.py            # 40,000 IPv4 + 10,000 IPv6 addresses per set
    .venv/bin/python bench/geo.py 10000

Addresses are drawn like bench/make_access_log.py's clients (IPv4 uniformly over 1-223.x.x.x, so
they reach every block of the network database), IPv6 from global unicast space. Each figure is
one pass over distinct addresses no lookup in that process has seen:

* `cold`: a fresh `GeoLookup`, so the pass also pays plevin's lazy decoding of every database
  block it touches (once per process; uniformly random addresses touch nearly all of them);
* `warm`: a second set of new addresses after the first set has decoded the blocks.

`old` is `GeoLookup._lookup_text`, which is the lookup as it was (`ipaddress`, `is_global`,
iptocc on `str(addr)`, `plevin.lookup(...).network`). Also printed: the process's RSS growth over
the runs of the new path (the decoded blocks and the per-network memo).
"""

from __future__ import annotations

import gc
import ipaddress
import random
import sys
import time
from collections.abc import Callable

from pkgate.enrich.geo import GeoFacts, GeoLookup


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _v4(rng: random.Random, n: int) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        out.add(f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}")
    return sorted(out)


def _v6(rng: random.Random, n: int) -> list[str]:
    return sorted({str(ipaddress.IPv6Address((0x2000 << 112) | rng.getrandbits(116))) for _ in range(n)})


def _pass(lookup: Callable[[str], GeoFacts], addrs: list[str]) -> float:
    gc.collect()
    start = time.process_time()
    for ip in addrs:
        lookup(ip)
    return (time.process_time() - start) / len(addrs) * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40_000
    rng = random.Random(7)
    sets = {name: (_v4(rng, n), _v6(rng, n // 4)) for name in ("cold", "warm", "old-cold", "old-warm")}
    rss0 = _rss_mib()
    start = time.process_time()
    new = GeoLookup()
    print(f"geo new_build_ms {(time.process_time() - start) * 1e3:.1f} (plevin opened on first use)")
    for label in ("cold", "warm"):
        v4, v6 = sets[label]
        print(f"geo new_{label}_us ipv4 {_pass(new.lookup, v4):.1f} ipv6 {_pass(new.lookup, v6):.1f}")
    print(f"geo new_rss_growth_mib {_rss_mib() - rss0:.0f}")
    old = GeoLookup()
    for label in ("old-cold", "old-warm"):
        v4, v6 = sets[label]
        print(
            f"geo {label.replace('-', '_')}_us ipv4 {_pass(old._lookup_text, v4):.1f} ipv6 {_pass(old._lookup_text, v6):.1f}"
        )


if __name__ == "__main__":
    main()
