"""A store process to kill: spools events, loads them, refreshes rollups, applies retention, in a
loop, announcing each phase on stdout (`phase load`, `phase refresh`, `phase retention`) and each
durable write (`wrote N`: events 0..N-1 are in the spool). Run by test_crash_kill.py, which
SIGKILLs it at random moments inside a chosen phase. The code paths are pkgate's own."""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from pathlib import Path

from pkgate import config as config_mod
from pkgate.events import Event, encode, new_id
from pkgate.events.spool import SegmentWriter, frame
from pkgate.store.rebuild import local_loader
from pkgate.store.rollups import apply_retention, refresh_rollups

DAY_US = 86_400_000_000


def main() -> None:
    data_dir, start, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    cfg = config_mod.parse(f'[storage]\ndata_dir = "{data_dir}"\n', "driver")
    writer = SegmentWriter(cfg.paths.spool, f"drv-{os.getpid()}", segment_bytes=256 * 1024)
    loader = local_loader(cfg)
    now_us = time.time_ns() // 1000
    seq = start
    while True:
        frames = []
        for i in range(seq, seq + batch):
            # one in ten is from 3 days ago, so retention has days to fold
            ts = now_us - (3 * DAY_US if i % 10 == 0 else 0)
            event = Event(
                id=new_id(),
                ts_us=ts,
                gateway="drv",
                method="GET",
                path=f"/p/{i}",
                kind="file",
                status=302,
                duration_us=1,
                project=f"p{i % 7}",
                user_agent=f"drv/{i}",
                source_id=f"{i % 97:08x}",
                network_id=f"{i % 13:08x}",
            )
            frames.append(frame(encode(event)))
        writer.write(b"".join(frames))
        seq += batch
        print(f"wrote {seq}", flush=True)
        print("phase load", flush=True)
        loader.run_once()
        con = loader.connect()
        try:
            print("phase refresh", flush=True)
            refresh_rollups(con)
            print("phase retention", flush=True)
            apply_retention(con, 1, now=dt.datetime.now(dt.UTC))
        finally:
            con.close()


if __name__ == "__main__":
    main()
