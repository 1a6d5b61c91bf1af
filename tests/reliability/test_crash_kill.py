"""kill -9, many times, at random points: nothing answered is lost, nothing is counted twice, the
store opens (if one ever does not, it is rebuilt from the retained spool and the test says so).

Two parts, both real processes and pkgate's own code paths:
- the store side (`store_driver.py`): killed at a random moment inside a loader transaction, a
  rollup refresh or retention;
- the gateway (`pkgate serve`, two workers) under 16 concurrent clients: a worker killed (granian
  replaces it), or the supervisor with all its workers (then restarted).
The short form runs in CI (`KILLS` below, >= 20 in all); `bench/soak_kill.sh` runs the long form
(`SOAK_KILLS=300`). Each part prints its counts: kills, store rebuilds, lost, duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import pytest

from pkgate import config as config_mod
from pkgate.edge.links import LinkSigner
from pkgate.errors import StoreError
from pkgate.events.spool import seal_all
from pkgate.store.loader import connect
from pkgate.store.rebuild import local_loader
from pkgate.storestate import read_state
from tests.e2e.upstreams import free_port
from tests.support.process import BIN, clean_env, start_pkgate, wait_healthy

pytestmark = pytest.mark.e2e

#: Kills per part in CI; the long form sets SOAK_KILLS.
KILLS = int(os.environ.get("SOAK_KILLS", "0")) or None
DRIVER = Path(__file__).with_name("store_driver.py")
ROOT = Path(__file__).resolve().parents[2]
SECRET = "crash-test-secret-0123456789"
#: Events the store driver spools per round.
BATCH = 1500


@dataclass
class Tally:
    kills: int = 0
    damaged_on_open: int = 0
    restarts: int = 0  # gateways that exited by themselves (granian's crash-loop guard)
    by_target: dict[str, int] = field(default_factory=dict)

    def kill(self, target: str) -> None:
        self.kills += 1
        self.by_target[target] = self.by_target.get(target, 0) + 1


def opens_cleanly(db: Path) -> bool:
    try:
        connect(db).close()
    except StoreError:
        return False
    return True


def drive_and_kill(data: Path, phase: str, start: int, rng: random.Random) -> tuple[int, int]:
    """Run the driver until it enters `phase`, kill -9 it a random moment later.
    Returns (first, durable): events first..durable-1 were announced as written."""
    proc = subprocess.Popen(
        [sys.executable, str(DRIVER), str(data), str(start), str(BATCH)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**clean_env(), "PYTHONPATH": str(ROOT / "src")},
    )
    assert proc.stdout is not None
    durable, rounds = start, rng.randint(1, 2)
    deadline = time.monotonic() + 120
    for line in proc.stdout:
        if line.startswith("wrote "):
            durable = int(line.split()[1])
        elif line.strip() == f"phase {phase}":
            rounds -= 1
            if rounds == 0:
                time.sleep(rng.uniform(0, 0.15))
                break
        assert time.monotonic() < deadline, "the driver never reached its phase"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    return start, durable


def test_kill_9_in_loader_refresh_and_retention(tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("SOAK_SEED", "11"))
    data = tmp_path / "data"
    cfg = config_mod.parse(f'[storage]\ndata_dir = "{data}"\n', "test", env={})
    tally = Tally()
    written: list[tuple[int, int]] = []
    start = 0
    per_phase = (KILLS or 12) // 3
    phases = ["load", "refresh", "retention"] * per_phase
    rng.shuffle(phases)
    for phase in phases:
        first, durable = drive_and_kill(data, phase, start, rng)
        tally.kill(phase)
        written.append((first, durable))
        start = durable + BATCH  # past anything the killed run may have written unannounced
        if not opens_cleanly(cfg.paths.store):
            tally.damaged_on_open += 1
        local_loader(cfg).connect().close()  # the supervisor's open: rebuilds a damaged store
    seal_all(cfg.paths.spool)
    loader = local_loader(cfg)
    while loader.run_once():
        pass
    con = duckdb.connect(str(cfg.paths.store), read_only=True)
    try:
        rows = con.execute(
            "SELECT user_agent, count(*) FROM events WHERE user_agent LIKE 'drv/%' GROUP BY 1"
        ).fetchall()
    finally:
        con.close()
    stored = {int(ua[4:]): n for ua, n in rows}
    # Events of three days ago are folded by retention (their events deleted): check today's only.
    expected = {i for first, durable in written for i in range(first, durable) if i % 10}
    lost = expected - set(stored)
    duplicated = {i: n for i, n in stored.items() if n > 1}
    unknown = {i for i in stored if not any(f <= i < d + BATCH for f, d in written)}
    rebuilds = read_state(data).rebuilds
    print(
        f"\nstore kills={tally.kills} {tally.by_target} damaged_on_open={tally.damaged_on_open} "
        f"rebuilds={rebuilds} events={len(expected)} lost={len(lost)} duplicated={len(duplicated)}"
    )
    assert tally.kills >= 12
    assert not lost, f"{len(lost)} durable events lost, e.g. {sorted(lost)[:5]}"
    assert not duplicated
    assert not unknown
    assert rebuilds == tally.damaged_on_open  # every damaged store was rebuilt, none needlessly
    assert opens_cleanly(cfg.paths.store)


# ---- the gateway ---------------------------------------------------------------------------------


def write_config(workdir: Path, port: int) -> Path:
    cfg = workdir / "pkgate.toml"
    cfg.write_text(
        f'[server]\nport = {port}\nworkers = 2\n[gateway]\nsecret = "{SECRET}"\ndefault_upstream = "up"\n'
        '[upstreams.up]\nurl = "http://127.0.0.1:9/simple/"\n'
        f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
    )
    return cfg


@dataclass
class Load:
    answered: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)


async def hammer(port: int, paths: list[str], load: Load, stop: asyncio.Event) -> None:
    """16 concurrent clients, each request with a unique User-Agent; 302 = answered."""
    counter = iter(range(10**9))

    async def one_client(client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            tag = f"killtest/{next(counter)}"
            load.sent.add(tag)
            try:
                r = await client.get(paths[len(tag) % len(paths)], headers={"user-agent": tag})
            except httpx.HTTPError:
                await asyncio.sleep(0.05)  # gateway down: back off a little
                continue
            if r.status_code == 302:
                load.answered.add(tag)

    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=5) as client:
        await asyncio.gather(*(one_client(client) for _ in range(16)))


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Never leave a gateway behind, whatever failed."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def workers_of(pid: int) -> list[int]:
    """The granian worker processes (multiprocessing spawn children, not the resource tracker)."""
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", "spawn_main"], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


def test_kill_9_of_workers_and_supervisor_under_load(tmp_path: Path) -> None:
    rng = random.Random(os.environ.get("SOAK_SEED", "12"))
    port = free_port()
    cfg = write_config(tmp_path, port)
    log = tmp_path / "serve.log"
    signer = LinkSigner(SECRET.encode())
    paths = [
        signer.make(
            "demo", f"demo-1.{i}-py3-none-any.whl", f"https://files.example/demo-1.{i}-py3-none-any.whl"
        )
        for i in range(20)
    ]
    kills = KILLS or 10
    tally = Tally()
    load = Load()

    def start() -> subprocess.Popen[bytes]:
        proc = start_pkgate(["serve", "--config", str(cfg)], log, new_session=True)
        wait_healthy(port, proc, log, timeout=120)
        return proc

    proc = start()

    async def run() -> None:
        nonlocal proc
        stop = asyncio.Event()
        task = asyncio.create_task(hammer(port, paths, load, stop))
        for _ in range(kills):
            before, wanted = len(load.answered), rng.randint(50, 400)
            while len(load.answered) < before + wanted:
                if proc.poll() is not None:  # granian gave up on a crash loop: a service manager
                    tally.restarts += 1  # would start it again, so does this test
                    proc = await asyncio.to_thread(start)
                await asyncio.sleep(0.01)
            workers = workers_of(proc.pid)
            if len(workers) == 2 and rng.random() < 0.5:
                os.kill(rng.choice(workers), signal.SIGKILL)  # granian replaces the worker
                tally.kill("worker")
            else:
                os.killpg(proc.pid, signal.SIGKILL)  # supervisor (and loader) with its workers
                tally.kill("supervisor")
                await asyncio.to_thread(proc.wait, 30)
                proc = await asyncio.to_thread(start)
        stop.set()
        await task
        # A SIGTERM while granian is still starting a replacement worker waits for ever (granian,
        # seen here): stop only with both workers up.
        while len(workers_of(proc.pid)) < 2 or proc.poll() is not None:
            if proc.poll() is not None:
                tally.restarts += 1
                proc = await asyncio.to_thread(start)
            await asyncio.sleep(0.2)
        await asyncio.to_thread(wait_healthy, port, proc, log, 120)
        await asyncio.sleep(3)

    try:
        asyncio.run(asyncio.wait_for(run(), 120 + 20 * kills))
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(180)
        except subprocess.TimeoutExpired:  # seen once in CI: say where the supervisor is stuck
            proc.send_signal(signal.SIGUSR1)
            time.sleep(2)
            code = None
        assert code == 0, log.read_text()[-6000:]
    finally:
        stop_group(proc)
    out = subprocess.run(
        [str(BIN / "pkgate"), "events", "--config", str(cfg), "--format", "json"],
        capture_output=True,
        check=True,
        text=True,
        env=clean_env(),
    ).stdout
    tags = [e["user_agent"] for e in json.loads(out) if e["user_agent"].startswith("killtest/")]
    lost = load.answered - set(tags)
    duplicated = len(tags) - len(set(tags))
    extra = set(tags) - load.answered  # recorded, but the client saw no answer: in flight at a kill
    rebuilds = read_state(tmp_path / "data").rebuilds
    print(
        f"\ngateway kills={tally.kills} {tally.by_target} restarts={tally.restarts} rebuilds={rebuilds} "
        f"answered={len(load.answered)} "
        f"lost={len(lost)} duplicated={duplicated} in_flight_recorded={len(extra)}"
    )
    assert len(load.answered) > kills * 50
    assert not lost, f"{len(lost)} answered requests are not in the store"
    assert duplicated == 0
    assert extra <= load.sent
    assert len(extra) <= 16 * tally.kills  # at most the clients' in-flight requests per kill
    assert opens_cleanly(tmp_path / "data" / "pkgate.duckdb")
    assert "Traceback" not in log.read_text()
