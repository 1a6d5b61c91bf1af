"""kill -9 under load: every request a client got an answer for is in the store exactly once.

The gateway (supervisor + workers, one process group) takes concurrent file requests, each tagged
with a unique User-Agent; mid-load the whole group is SIGKILLed. A restarted gateway recovers the
spool; after its clean stop, the store must hold every answered request once and nothing twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from pkgate.edge.links import LinkSigner
from tests.e2e.upstreams import free_port
from tests.support.process import BIN, clean_env, start_pkgate, wait_healthy

SECRET = "crash-test-secret-0123456789"

pytestmark = pytest.mark.e2e


def write_config(workdir: Path, port: int, fsync: str, workers: int = 2) -> Path:
    cfg = workdir / "pkgate.toml"
    cfg.write_text(
        f'[server]\nport = {port}\nworkers = {workers}\n[gateway]\nsecret = "{SECRET}"\ndefault_upstream = "up"\n'
        '[upstreams.up]\nurl = "http://127.0.0.1:9/simple/"\n'
        f'[storage]\ndata_dir = "{workdir / "data"}"\nfsync = "{fsync}"\nload_interval = 0.3\n'
    )
    return cfg


async def hammer(port: int, paths: list[str], answered: set[str], stop: asyncio.Event) -> None:
    """Concurrent GETs, each with a unique UA; remember the ones that got a full answer."""
    counter = iter(range(10**9))

    async def one_client(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            tag = f"crashtest/{next(counter)}"
            try:
                r = await client.get(paths[len(tag) % len(paths)], headers={"user-agent": tag})
            except httpx.HTTPError:
                continue  # no answer: may or may not be recorded, both are fine
            if r.status_code == 302:
                answered.add(tag)

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=2) as client:
        await asyncio.gather(*(one_client(client) for _ in range(16)))


@pytest.mark.parametrize("fsync", ["batched", "off"])
def test_kill_9_loses_nothing_and_counts_nothing_twice(tmp_path: Path, fsync: str) -> None:
    port = free_port()
    cfg = write_config(tmp_path, port, fsync)
    log = tmp_path / "serve.log"
    signer = LinkSigner(SECRET.encode())
    paths = [
        signer.make(
            "demo", f"demo-1.{i}-py3-none-any.whl", f"https://files.example/demo-1.{i}-py3-none-any.whl"
        )
        for i in range(20)
    ]
    proc = start_pkgate(["serve", "--config", str(cfg)], log, new_session=True)
    wait_healthy(port, proc, log)
    answered: set[str] = set()

    async def load_then_kill() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(hammer(port, paths, answered, stop))
        while len(answered) < 1500:  # well under load, with the loader busy too
            await asyncio.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        await asyncio.sleep(0.2)  # in-flight requests fail or complete
        stop.set()
        await task

    asyncio.run(asyncio.wait_for(load_then_kill(), 60))
    proc.wait(10)
    assert len(answered) >= 1500

    proc = start_pkgate(["serve", "--config", str(cfg)], log, new_session=True)  # recovers the spool
    wait_healthy(port, proc, log)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log.read_text()

    out = subprocess.run(
        [str(BIN / "pkgate"), "events", "--config", str(cfg), "--format", "json"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    events = json.loads(out)
    tags = [e["user_agent"] for e in events if e["user_agent"].startswith("crashtest/")]
    assert len(tags) == len(set(tags)), "an event was counted twice"
    missing = answered - set(tags)
    assert not missing, f"{len(missing)} answered requests are not in the store"
    ids = [e["id"] for e in events]
    assert len(ids) == len(set(ids))
    assert all(e["kind"] == "file" and e["status"] == 302 for e in events if e["user_agent"] in answered)


def test_a_damaged_store_is_moved_aside_and_rebuilt(tmp_path: Path) -> None:
    """A store that fails to open is kept in store-aside/, rebuilt from the spool, shown in
    /healthz and /metrics; serving never stops and no traceback is printed."""
    port = free_port()
    cfg = write_config(tmp_path, port, "batched", workers=1)  # stop is not racing a worker's start
    data = tmp_path / "data"
    data.mkdir()
    junk = b"this is not a DuckDB file" * 500
    (data / "pkgate.duckdb").write_bytes(junk)
    log = tmp_path / "serve.log"
    proc = start_pkgate(["serve", "--config", str(cfg)], log, new_session=True)
    wait_healthy(port, proc, log)
    link = LinkSigner(SECRET.encode()).make(
        "demo", "demo-1.0.tar.gz", "up https://files.example/demo-1.0.tar.gz"
    )
    assert httpx.get(f"http://127.0.0.1:{port}{link}").status_code == 302
    health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
    assert health["store"]["rebuilds"] == 1
    assert "store-aside" in health["store"]["moved_to"]
    metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert "pkgate_store_rebuilds_total 1" in metrics
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(90) == 0
    text = log.read_text()
    assert "STORE DAMAGED" in text
    assert "Traceback" not in text
    assert [p.read_bytes() for p in (data / "store-aside").glob("*.duckdb")] == [junk]  # kept
    out = subprocess.run(
        [str(BIN / "pkgate"), "events", "--config", str(cfg)], capture_output=True, text=True, env=clean_env()
    )
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)) == 1
