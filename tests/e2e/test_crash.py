"""A damaged store: moved aside, rebuilt from the spool, reported; serving never stops.

The kill -9 tests (workers, supervisor, loader, rollups, retention; many kills) are in
tests/reliability/test_crash_kill.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from pkgate.edge.links import LinkSigner
from tests.e2e.upstreams import free_port
from tests.support.process import BIN, clean_env, start_pkgate, stop_pkgate, wait_healthy

SECRET = "crash-test-secret-0123456789"

pytestmark = pytest.mark.e2e


def write_config(workdir: Path, port: int, fsync: str, workers: int = 2, stop_timeout: int = 10) -> Path:
    cfg = workdir / "pkgate.toml"
    cfg.write_text(
        f"[server]\nport = {port}\nworkers = {workers}\nstop_timeout = {stop_timeout}\n"
        f'[gateway]\nsecret = "{SECRET}"\ndefault_upstream = "up"\n'
        '[upstreams.up]\nurl = "http://127.0.0.1:9/simple/"\n'
        f'[storage]\ndata_dir = "{workdir / "data"}"\nfsync = "{fsync}"\nload_interval = 0.3\n'
    )
    return cfg


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
    try:
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
    finally:
        assert stop_pkgate(proc, log) == 0
    text = log.read_text()
    assert "STORE DAMAGED" in text
    assert "Traceback" not in text
    assert [p.read_bytes() for p in (data / "store-aside").glob("*.duckdb")] == [junk]  # kept
    assert len(_stored(cfg)) == 1


def _stored(cfg: Path) -> list[dict[str, Any]]:
    """The events in the store (the gateway stopped), by `pkgate events`."""
    out = subprocess.run(
        [str(BIN / "pkgate"), "events", "--config", str(cfg)], capture_output=True, text=True, env=clean_env()
    )
    assert out.returncode == 0, out.stderr
    events: list[dict[str, Any]] = json.loads(out.stdout)
    return events


class _Serving(NamedTuple):
    cfg: Path
    log: Path
    port: int
    proc: subprocess.Popen[bytes]
    workers: list[int]  # both started
    link: str  # a signed file link it redirects


def _serve_two_workers(tmp_path: Path, stop_timeout: int = 10) -> _Serving:
    port = free_port()
    cfg = write_config(tmp_path, port, "batched", workers=2, stop_timeout=stop_timeout)
    log = tmp_path / "serve.log"
    proc = start_pkgate(["serve", "--config", str(cfg)], log, new_session=True)
    try:
        wait_healthy(port, proc, log)
        _wait_started(log, 1)
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    link = LinkSigner(SECRET.encode()).make("demo", "demo-1.0.tar.gz", "up https://files.example/d.tar.gz")
    return _Serving(cfg, log, port, proc, workers, link)


def _children(pid: int) -> list[int]:
    """The granian workers of a supervisor (multiprocessing spawn children)."""
    out = subprocess.run(["pgrep", "-P", str(pid), "-f", "spawn_main"], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


def _state(pid: int) -> str:
    """A process's state and what it waits in (for a failure's message)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return f"{pid}: gone"
    return f"{pid}: state {stat[0]}, parent {stat[1]}, waiting in {wchan or '-'}"


def _alive(pid: int) -> bool:
    """Running (a zombie or a gone process is not): what /proc says of its state."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _wait_started(log: Path, times: int) -> None:
    """Until both workers of the `times`-th start have said they serve."""
    deadline = time.monotonic() + 30
    text = log.read_text()
    while min(text.count(f"Started worker-{n} runtime") for n in (1, 2)) < times:
        assert time.monotonic() < deadline, "the workers never started"
        time.sleep(0.1)
        text = log.read_text()


def test_workers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    """`kill -9` of the supervisor alone: its workers stop too (they used to go on answering and
    writing spool segments that the next supervisor seals), and a new supervisor starts cleanly on
    the same port and data directory, with the answered requests in its store."""
    # A short stop_timeout: an orphan hung in its stop ends sooner (edge/app.py `watch_stop`).
    cfg, log, port, proc, workers, link = _serve_two_workers(tmp_path, stop_timeout=3)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}{link}").status_code == 302
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 15
        while [w for w in workers if _alive(w)]:
            assert time.monotonic() < deadline, (
                f"workers outlived their supervisor: {[_state(w) for w in workers]}\n"
                + log.read_text()[-4000:]
            )
            time.sleep(0.1)
        again = start_pkgate(["serve", "--config", str(cfg)], log, new_session=True)
        try:
            wait_healthy(port, again, log)
            _wait_started(log, 2)  # a stop while a worker starts is another case (edge/app.py)
            assert httpx.get(f"http://127.0.0.1:{port}{link}").status_code == 302
            # SIGUSR1: every thread's stack on stderr (to see where a stuck supervisor is), and on.
            again.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 10
            while "supervisor.py" not in log.read_text():  # the main thread, in serve()
                assert time.monotonic() < deadline, "no stacks printed on SIGUSR1"
                time.sleep(0.1)
            assert "most recent call first" in log.read_text()
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            assert stop_pkgate(again, log) == 0
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(again.pid, signal.SIGKILL)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert len(_stored(cfg)) == 2  # both answered requests, once each


def test_a_stuck_worker_cannot_hold_up_a_stop(tmp_path: Path) -> None:
    """A worker that does not stop (here: SIGSTOPped, so its SIGTERM stays pending) is killed after
    `server.stop_timeout`; the gateway stops cleanly, says so in its log, and the request the stuck
    worker answered is stored (it was spooled before the answer)."""
    cfg, log, port, proc, workers, link = _serve_two_workers(tmp_path, stop_timeout=2)
    try:
        os.kill(workers[1], signal.SIGUSR1)  # what StopWatch asks of a stuck worker: its stacks
        deadline = time.monotonic() + 10
        while "most recent call first" not in log.read_text():  # the supervisor was not asked
            assert time.monotonic() < deadline, "no worker stacks printed on SIGUSR1"
            time.sleep(0.1)
        for n in range(8):  # and it serves on (new connections: both workers answer some)
            assert (
                httpx.get(f"http://127.0.0.1:{port}{link}", headers={"user-agent": f"t/{n}"}).status_code
                == 302
            )
        os.kill(workers[0], signal.SIGSTOP)
        started = time.monotonic()
        assert stop_pkgate(proc, log, timeout=30) == 0
        took = time.monotonic() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    text = log.read_text()
    assert f"worker {workers[0]} has not stopped" in text
    assert f"worker {workers[1]} has not stopped" not in text
    assert "refused to gracefully stop" in text  # granian's kill
    assert took >= 2  # it was waited for, stop_timeout long
    assert not _alive(workers[0])
    again = start_pkgate(["serve", "--config", str(cfg)], log, new_session=True)  # seals what it left
    try:
        wait_healthy(port, again, log)
    finally:
        assert stop_pkgate(again, log) == 0
    assert sorted(e["user_agent"] for e in _stored(cfg)) == [f"t/{n}" for n in range(8)]
