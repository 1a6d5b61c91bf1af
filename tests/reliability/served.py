"""A real `pkgate serve` for reliability tests: config from keyword sections, start, stop, RSS.

Each test gets its own data dir and port; the gateway runs in its own process group so a test can
find its granian workers (for their RSS) and end everything it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

from tests.support.process import clean_env, start_pkgate, stop_pkgate, wait_healthy


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def write_config(path: Path, sections: dict[str, dict[str, object]]) -> Path:
    lines = []
    for name, keys in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in keys.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Served:
    """`pkgate serve` on a fresh port and data dir under `workdir`."""

    def __init__(self, workdir: Path, sections: dict[str, dict[str, object]]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.data = workdir / "data"
        merged: dict[str, dict[str, object]] = {
            "server": {"host": "127.0.0.1", "port": self.port},
            "storage": {"data_dir": str(self.data), "load_interval": 0.5},
        }
        for name, keys in sections.items():
            merged[name] = {**merged.get(name, {}), **keys}
        self.config = write_config(workdir / "pkgate.toml", merged)
        self.log = workdir / "pkgate.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Served:
        self.proc = start_pkgate(["serve", "--config", str(self.config)], self.log, new_session=True)
        wait_healthy(self.port, self.proc, self.log, timeout)
        return self

    def healthz(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(f"{self.url}/healthz", timeout=5).json()
        return body

    def wait_drained(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while (lag := self.healthz().get("spool_lag")) != 0:
            assert time.monotonic() < deadline, f"spool_lag still {lag}"
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """The granian worker processes of this gateway's process group."""
        assert self.proc is not None
        out = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout
        pids = [int(p) for p in out.split()]
        return [p for p in pids if p != self.proc.pid and _is_worker(p)]

    def rss_kib(self) -> dict[int, int]:
        """Resident set size (KiB) of each worker."""
        return {pid: rss_kib(pid) for pid in self.worker_pids()}

    def stop(self, timeout: float = 180) -> int:
        """SIGTERM (drains the spool into the store) and wait; the exit code (`stop_pkgate`: one
        that does not stop fails with its stacks and log)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            return stop_pkgate(self.proc, self.log, timeout)
        return self.proc.returncode

    def kill(self) -> None:
        """`kill -9` of the whole process group, if still running."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def count(self, where: str = "true") -> int:
        """Stored events matching a SQL condition (the gateway must be stopped)."""
        con = duckdb.connect(str(self.data / "pkgate.duckdb"), read_only=True)
        try:
            row = con.execute(f"SELECT count(*) FROM events WHERE {where}").fetchone()  # noqa: S608
        finally:
            con.close()
        assert row is not None
        return int(row[0])

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [
                str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "pkgate"),
                *args,
                "--config",
                str(self.config),
            ],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


def _is_worker(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"multiprocessing.spawn" in cmd  # granian's workers are spawned; the resource tracker is not one


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
