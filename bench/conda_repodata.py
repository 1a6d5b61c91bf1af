"""What routing costs a conda channel: composing a large repodata.json from route parts.

Generates a synthetic repodata of N records (conda-forge-like fields), then times, once each:
the ETag of a pass-through (no rules), decoding, composing with one rule claiming 1% of the names,
and encoding. Usage: `.venv/bin/python bench/conda_repodata.py [N]` (default 200000).
"""

from __future__ import annotations

import hashlib
import sys
import time
import tracemalloc
from typing import Any

import msgspec

from pkgate.edge.conda.repodata import Part, compose_repodata, decode_json


def synthetic(n: int) -> bytes:
    packages: dict[str, Any] = {}
    for i in range(n):
        name = f"pkg-{i % (n // 20 or 1)}"
        fn = f"{name}-{i}.0.0-py312h{i:07x}_0.conda"
        packages[fn] = {
            "build": f"py312h{i:07x}_0",
            "build_number": 0,
            "depends": ["python >=3.12,<3.13.0a0", "libzlib >=1.3.1,<2.0a0", "numpy >=1.26"],
            "license": "BSD-3-Clause",
            "md5": hashlib.md5(fn.encode(), usedforsecurity=False).hexdigest(),
            "name": name,
            "sha256": hashlib.sha256(fn.encode()).hexdigest(),
            "size": 123456 + i,
            "subdir": "linux-64",
            "timestamp": 1700000000000 + i,
            "version": f"{i}.0.0",
        }
    return msgspec.json.encode({"info": {"subdir": "linux-64"}, "packages": {}, "packages.conda": packages})


def main(n: int) -> None:
    body = synthetic(n)
    print(f"records {n}, repodata.json {len(body) / 1e6:.1f} MB")
    t = time.perf_counter()
    hashlib.blake2b(body, digest_size=16).hexdigest()
    print(f"pass-through ETag: {time.perf_counter() - t:.3f} s")
    t = time.perf_counter()
    doc = decode_json(body, "bench")
    private = decode_json(synthetic(n // 100), "bench")
    t_decode = time.perf_counter() - t
    claimed = {f"pkg-{i}" for i in range(0, n // 20, 100)}
    t = time.perf_counter()
    out = compose_repodata([Part(doc, lambda name: name not in claimed), Part(private, claimed.__contains__)])
    t_compose = time.perf_counter() - t
    t = time.perf_counter()
    encoded = msgspec.json.encode(out)
    t_encode = time.perf_counter() - t
    print(f"decode (both parts) {t_decode:.2f} s, compose {t_compose:.2f} s, encode {t_encode:.2f} s")
    del doc, private, out
    tracemalloc.start()  # a second decode, measured: what one composition holds at its peak
    held = decode_json(body, "bench")
    peak = tracemalloc.get_traced_memory()[1]
    print(
        f"composed {len(encoded) / 1e6:.1f} MB; decoded repodata holds {peak / 1e6:.0f} MB ({len(held)} keys)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
