"""The spool's disk full, for real: a 4 MiB tmpfs mounted on the spool in a private mount namespace
(`unshare -m`, needs root). While it is full the gateway answers 503 (never a hang, never an answer
that was not recorded); when space returns it answers 302 again by itself; every answered request
is in the store once.

The test reaches the gateway's private mount through `/proc/<pid>/root`, fills it with a file,
then deletes the file.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from pkgate.edge.links import LinkSigner
from tests.e2e.upstreams import free_port
from tests.support.process import BIN, clean_env, wait_healthy

pytestmark = pytest.mark.e2e

SECRET = "disk-full-secret-0123456789"


def fill(directory: Path) -> Path:
    """Write a file until the file system refuses (ENOSPC)."""
    filler = directory / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as fh:
        while True:
            fh.write(b"\0" * 65536)
            fh.flush()
    return filler


def test_spool_disk_full_is_503_then_recovers_and_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    spool = data / "spool"
    spool.mkdir(parents=True)
    cfg = tmp_path / "pkgate.toml"
    cfg.write_text(
        f'[server]\nport = {port}\nworkers = 1\n[gateway]\nsecret = "{SECRET}"\ndefault_upstream = "up"\n'
        '[upstreams.up]\nurl = "http://127.0.0.1:9/simple/"\n'
        f'[storage]\ndata_dir = "{data}"\nload_interval = 0.2\nsegment_bytes = 65536\n'
        "spool_retention_bytes = 0\n"  # nothing frees space but the test
    )
    log = tmp_path / "serve.log"
    script = f'mount -t tmpfs -o size=4m tmpfs "{spool}" && exec "{BIN / "pkgate"}" serve --config "{cfg}"'
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            start_new_session=True,
        )
    try:
        wait_healthy(port, proc, log, timeout=120)
        private_spool = Path(f"/proc/{proc.pid}/root") / spool.relative_to("/")
        assert private_spool.is_dir()
        assert not list(spool.iterdir())  # the real directory stays empty: the tmpfs is private
        link = LinkSigner(SECRET.encode()).make(
            "demo", "demo-1.0.tar.gz", "up https://files.example/demo-1.0.tar.gz"
        )
        answered: set[str] = set()
        statuses: dict[str, list[int]] = {"before": [], "full": [], "after": []}
        counter = iter(range(10**9))

        def requests(phase: str, n: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                for _ in range(n):
                    tag = f"diskfull/{next(counter)}"
                    r = client.get(link, headers={"user-agent": tag})
                    statuses[phase].append(r.status_code)
                    if r.status_code == 302:
                        answered.add(tag)

        requests("before", 200)
        filler = fill(private_spool)
        requests("full", 300)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        filler.unlink()
        time.sleep(0.5)
        requests("after", 200)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0, log.read_text()[-3000:]

    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)

    assert set(statuses["before"]) == {302}
    full = statuses["full"]
    assert 503 in full, "a full spool must refuse (503), not answer unrecorded"
    assert set(full) <= {302, 503}  # frames that still fit are answered: both are honest
    assert health.status_code == 200
    assert 'pkgate_spool_failures_total{op="write"}' in metrics
    assert set(statuses["after"][-100:]) == {302}, "no recovery once space returned"
    out = subprocess.run(
        [str(BIN / "pkgate"), "events", "--config", str(cfg), "--format", "json"],
        capture_output=True,
        check=True,
        text=True,
        env=clean_env(),
    ).stdout
    tags = [e["user_agent"] for e in json.loads(out) if e["user_agent"].startswith("diskfull/")]
    assert len(tags) == len(set(tags)), "an event was counted twice"
    assert answered <= set(tags), f"{len(answered - set(tags))} answered requests lost"
    assert set(tags) == answered  # a 503 was not recorded either
    text = log.read_text()
    assert "spool write failed" in text
    assert "spool writable again" in text
    assert "Traceback" not in text
    print(f"\ndisk full: 503s={full.count(503)} answered={len(answered)} lost=0 duplicated=0")
