"""`pkgate dashboard` (pkgate.web.cli.dashboard), called as typer would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer

from pkgate.web.cli import dashboard
from tests.web.conftest import TOKEN


def test_refuses_without_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pkgate.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path}"\n')
    with pytest.raises(typer.Exit) as info:
        dashboard(config=str(cfg), token=None)
    assert info.value.exit_code == 2
    assert "the API needs an admin token" in capsys.readouterr().err


def test_refuses_a_short_token_and_a_bad_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        dashboard(config=None, token="short")
    assert "at least 16 characters" in capsys.readouterr().err
    with pytest.raises(typer.Exit):
        dashboard(config=None, token=TOKEN, port=70000)
    assert "--port: must be 1..65535" in capsys.readouterr().err


def test_serves_the_api_with_the_configured_token(store: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "pkgate.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{store.parent}"\n[gateway]\nadmin_token = "{TOKEN}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKGATE_")}
    code = "import typer; from pkgate.web.cli import dashboard; typer.run(dashboard)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--config", str(cfg), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/dashboard").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
        params = {"since": "2026-03-01", "until": "2026-03-10"}
        assert httpx.get(f"{base}/api/projects", params=params).status_code == 401
        resp = httpx.get(f"{base}/api/projects", params=params, headers={"authorization": f"Bearer {TOKEN}"})
        assert resp.status_code == 200
        assert [r["project"] for r in resp.json()["rows"]] == ["six", "flask"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
