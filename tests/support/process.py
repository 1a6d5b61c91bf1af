"""`pkgate` commands as real subprocesses for end-to-end tests: start, wait until healthy, env."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"


def clean_env() -> dict[str, str]:
    """This environment without PKGATE_* variables, so only the test's config file counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PKGATE_")}


def start_pkgate(args: list[str], log: Path, new_session: bool = False) -> subprocess.Popen[bytes]:
    """`pkgate <args>` with output appended to `log`; `new_session` gives it its own process group."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(BIN / "pkgate"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(),
            start_new_session=new_session,
        )


def wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise TimeoutError(log.read_text())


def stop_pkgate(proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> int:
    """SIGTERM a `pkgate serve` started with `new_session` and wait: its exit code. One that does not
    stop has every process of its group print its stacks into `log` (SIGUSR1), is killed with its
    group, and fails with the log's end: a stuck gateway never outlives its test."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGUSR1)
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        tail = log.read_text(errors="replace")[-8000:]
        raise AssertionError(f"pkgate serve did not stop within {timeout}s of SIGTERM:\n{tail}") from None
