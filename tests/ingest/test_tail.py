"""`pkgate tail`: a real subprocess follows a log through growth, rename and copytruncate rotation."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

PKGATE = Path(sys.executable).parent / "pkgate"


def _line(i: int) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(time.time() - 120))
    return f'192.0.2.{i % 200} - - [{stamp}] "GET /files/six-1.16.0-py2.py3-none-any.whl?n={i} HTTP/1.1" 302 0 "-" "pip/24.2"\n'


def _ids(data: Path) -> list[str]:
    """Ids of the stored events (read-only, retrying while `tail` holds the store for a commit)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            con = duckdb.connect(str(data / "pkgate.duckdb"), read_only=True)
            break
        except duckdb.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        return [r[0] for r in con.execute("SELECT CAST(id AS VARCHAR) FROM events").fetchall()]
    finally:
        con.close()


def _wait_count(data: Path, n: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    got = -1
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        if (data / "pkgate.duckdb").exists():
            got = len(_ids(data))
            if got >= n:
                assert got == n
                return
        time.sleep(0.2)
    raise AssertionError(f"{got} events after {timeout}s, expected {n}")


def test_tail_follows_growth_and_both_rotations(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "pkgate.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n')
    log = tmp_path / "access.log"
    proc = subprocess.Popen(
        [str(PKGATE), "tail", str(log), "--config", str(cfg), "--interval", "0.1"],
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(0.5)  # the log does not exist yet: tail waits for it
        with log.open("a") as out:
            out.write("".join(_line(i) for i in range(50)))
            out.write(_line(50)[:30])  # half a line: not an event until its newline comes
            out.flush()
            _wait_count(data, 50, proc)
            out.write(_line(50)[30:] + "".join(_line(i) for i in range(51, 80)))
            out.flush()
            _wait_count(data, 80, proc)
            # logrotate's default: rename, the writer still holds the old file for a moment.
            os.rename(log, tmp_path / "access.log.1")
            out.write("".join(_line(i) for i in range(80, 90)))
        with log.open("a") as out:
            out.write("".join(_line(i) for i in range(90, 120)))
        _wait_count(data, 120, proc)
        # copytruncate: copy, then truncate in place; the writer keeps appending (O_APPEND).
        with log.open("a") as out:
            shutil.copyfile(log, tmp_path / "access.log.2")
            os.truncate(log, 0)
            time.sleep(0.3)
            out.write("".join(_line(i) for i in range(120, 135)))
        _wait_count(data, 135, proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert "rejected: none" in err.decode()
    # The rotated copies hold nothing new: ingesting them adds nothing.
    done = subprocess.run(
        [
            str(PKGATE),
            "ingest",
            "--config",
            str(cfg),
            str(tmp_path / "access.log.1"),
            str(tmp_path / "access.log.2"),
        ],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert " 0 events stored" in done.stderr.decode()
    assert len(set(_ids(data))) == 135
