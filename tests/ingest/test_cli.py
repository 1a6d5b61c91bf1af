"""`pkgate ingest` as a user runs it: stdin, a summary on stderr, a clear error naming file:line."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"
PKGATE = Path(sys.executable).parent / "pkgate"


def _run(tmp_path: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    cfg = tmp_path / "pkgate.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[ingest]\nname = "edge-1"\n')
    return subprocess.run(
        [str(PKGATE), "ingest", "--config", str(cfg), *args], input=stdin, capture_output=True, timeout=120
    )


def test_stdin_gzip_summary_and_strict_error(tmp_path: Path) -> None:
    data = (SAMPLES / "nginx-combined.log").read_bytes()
    done = _run(tmp_path, "-", stdin=gzip.compress(data))
    assert done.returncode == 0, done.stderr
    summary = done.stderr.decode()
    assert "8 lines read" in summary
    assert "7 events stored" in summary
    assert "request 1" in summary
    again = _run(tmp_path, "--from-start", "--jobs", "2", "-", stdin=data)
    assert "0 events stored, 7 already stored" in again.stderr.decode()
    strict = _run(tmp_path, "--strict", "--from-start", "-", stdin=data)
    assert strict.returncode == 2
    assert strict.stderr.decode().startswith("pkgate: error: <stdin>:7: request")
    assert b"Traceback" not in strict.stderr
    assert b"192.0.2.1" not in strict.stderr  # the bad line's address is not echoed


def test_unknown_format_and_missing_file(tmp_path: Path) -> None:
    bad = _run(tmp_path, "--format", "iis", str(SAMPLES / "nginx.json"))
    assert bad.returncode == 2
    assert b"--format: expected one of" in bad.stderr
    missing = _run(tmp_path, str(tmp_path / "nope.log"))
    assert missing.returncode == 2
    assert b"nope.log: cannot open" in missing.stderr
    junk = tmp_path / "junk.log"
    junk.write_text("hello\nworld\n")
    undetected = _run(tmp_path, str(junk))
    assert undetected.returncode == 2
    assert b"cannot tell the log format" in undetected.stderr
