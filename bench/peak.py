"""Run a command; print its wall time, CPU time and peak memory (whole process tree) as JSON.

`pkgate ingest` runs worker processes, so the peak RSS that matters is that of the tree: sampled
every 20 ms from /proc as the sum over all live descendants (`peak_rss_sum_kib`, an upper bound:
pages shared after fork count once per process), next to the largest single process
(`peak_rss_max_kib`, what `/usr/bin/time` reports).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def _tree(root: int) -> list[int]:
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    argv = sys.argv[1:]
    start = time.monotonic()
    before = os.times()
    proc = subprocess.Popen(argv)
    peak_sum = peak_max = 0
    while proc.poll() is None:
        sizes = [_rss_kib(p) for p in _tree(proc.pid)]
        peak_sum, peak_max = max(peak_sum, sum(sizes)), max(peak_max, max(sizes, default=0))
        time.sleep(0.02)
    wall = time.monotonic() - start
    after = os.times()
    print(
        json.dumps(
            {
                "rc": proc.returncode,
                "seconds": round(wall, 3),
                "cpu_seconds": round(
                    (after.children_user - before.children_user)
                    + (after.children_system - before.children_system),
                    3,
                ),
                "peak_rss_sum_kib": peak_sum,
                "peak_rss_max_kib": peak_max,
            }
        )
    )


if __name__ == "__main__":
    main()
