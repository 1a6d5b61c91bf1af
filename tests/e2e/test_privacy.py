"""No personal data on disk: client addresses, forwarded addresses, credentials and cookies.

Real traffic from several loopback source addresses (and forwarded addresses behind a trusted
proxy) goes through a real gateway process with the JSON access log on; then every file the gateway
wrote (spool, store, keys, metrics, logs) is scanned for those addresses in text and packed binary
form, and for the credential and cookie values. None may appear — while running and after a stop.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.upstreams import StaticIndex, free_port

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
pytestmark = pytest.mark.e2e

CLIENTS = ["127.83.201.17", "127.91.7.203", "127.66.66.131"]
PROXY = "127.44.19.250"  # trusted proxy: its X-Forwarded-For is believed
FORWARDED = ["198.51.100.77", "2001:db8:5ca1:ab1e::4217"]
SECRETS = ["dXNlcjpzM2NyZXQtcGFzc3dvcmQ=", "topsecretcookievalue4711"]


def needles() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for ip in [*CLIENTS, PROXY, *FORWARDED]:
        addr = ipaddress.ip_address(ip)
        out[f"{ip} text"] = ip.encode()
        out[f"{ip} packed"] = addr.packed
        if addr.version == 6:
            out[f"{ip} exploded"] = addr.exploded.encode()
        else:
            out[f"{ip} mapped"] = ipaddress.IPv6Address(f"::ffff:{ip}").packed
            out[f"{ip} int"] = str(int(addr)).encode()
    for s in SECRETS:
        out[s] = s.encode()
    return out


def scan(root: Path) -> list[str]:
    """Every file the gateway wrote: data dir and its stdout log (not the operator's config)."""
    found = []
    files = [p for p in root.rglob("*") if p.is_file() and p.name != "pkgate.toml"]
    assert files
    for path in files:
        data = path.read_bytes()
        for name, needle in needles().items():
            if needle in data:
                found.append(f"{path.relative_to(root)}: {name}")
    return found


def test_no_ip_or_credential_reaches_disk(tmp_path: Path, static_index: StaticIndex) -> None:
    port = free_port()
    data = tmp_path / "data"
    cfg = tmp_path / "pkgate.toml"
    cfg.write_text(
        f"[server]\nport = {port}\naccess_log = true\n"
        '[gateway]\nsecret = "privacy-test-secret-0123"\ndefault_upstream = "up"\n'
        f'[upstreams.up]\nurl = "{static_index.simple_url}"\n'
        f'[storage]\ndata_dir = "{data}"\nload_interval = 0.5\n'
        f'[privacy]\ntrusted_proxies = ["{PROXY}/32"]\n'
    )
    log = tmp_path / "stdout.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PKGATE_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "pkgate"), "serve", "--config", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        sent = 0
        sources = [(ip, None) for ip in CLIENTS] + [(PROXY, fwd) for fwd in FORWARDED]
        for source, forwarded in sources:
            transport = httpx.HTTPTransport(local_address=source)
            headers = {
                "authorization": f"Basic {SECRETS[0]}",
                "cookie": f"session={SECRETS[1]}",
                "user-agent": "pip/24.0",
            }
            if forwarded:
                headers["x-forwarded-for"] = forwarded
                headers["forwarded"] = f'for="{forwarded}"'
            with httpx.Client(
                transport=transport, base_url=f"http://127.0.0.1:{port}", headers=headers
            ) as client:
                page = client.get(
                    "/simple/six/", headers={"accept": "application/vnd.pypi.simple.v1+json"}
                ).json()
                for f in page["files"]:
                    assert client.get(f["url"]).status_code == 302
                    sent += 1
                assert client.get(f"/simple/x/?ip={source}").status_code in (301, 404)
                sent += 2
        time.sleep(1.5)  # the loader has run: store and spool both hold events now
        assert sent >= 15
        assert scan(tmp_path) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert scan(tmp_path) == []
    assert log.read_text().count('"kind":"file"') >= 5  # the access log was on and was scanned
    planted = data / "planted.bin"  # the scanner itself finds a packed address
    planted.write_bytes(b"\x00" + ipaddress.ip_address(CLIENTS[0]).packed + b"\x00")
    assert scan(tmp_path) == [f"data/planted.bin: {CLIENTS[0]} packed"]
    planted.unlink()
    # the events are there, with distinct per-source ids (5 sources), without the addresses
    events = subprocess.run(
        [str(BIN / "pkgate"), "events", "--config", str(cfg), "--format", "csv"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert events.count("\n") - 1 == sent
    rows = [line.split(",") for line in events.splitlines()]
    col = rows[0].index("source_id")
    assert len({r[col] for r in rows[1:]}) == len(sources)
