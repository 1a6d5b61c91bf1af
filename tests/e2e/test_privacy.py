"""No personal data on disk: client addresses, forwarded addresses, credentials and cookies.

Real traffic from several loopback source addresses (and forwarded addresses behind a trusted
proxy) goes through a real gateway process with the JSON access log on; then every file the gateway
wrote (spool, store, keys, metrics, logs) is scanned for those addresses — as text, packed in both
byte orders, as integers (decimal, 64-bit either order), IPv4-mapped, and as their networks (/24,
/48, /64: CIDR text, prefix, packed) — and for the credential and cookie values. Addresses a client
writes into its User-Agent, path or other headers are looked for too. None may appear — while
running and after a stop. In fleet mode the same scan covers the JetStream store directory (the
event stream and the key-value bucket of day keys) and the collector's store.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import nats as nats_client
import pytest

from pkgate.events.keysync import BUCKET
from tests.e2e.upstreams import StaticIndex, free_port
from tests.support.nats_server import NatsServer
from tests.support.process import clean_env, start_pkgate, wait_healthy

BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
pytestmark = pytest.mark.e2e

CLIENTS = ["127.83.201.17", "127.91.7.203", "127.66.66.131"]
PROXY = "127.44.19.250"  # trusted proxy: its X-Forwarded-For is believed
FORWARDED = ["198.51.100.77", "2001:db8:5ca1:ab1e::4217"]
SECRETS = ["dXNlcjpzM2NyZXQtcGFzc3dvcmQ=", "topsecretcookievalue4711"]


#: Addresses a client writes into what it sends (User-Agent, path, other headers), not its peer address.
CARRIED = {
    "ua": "203.0.113.45",
    "ua6": "2001:db8:77:1::9",
    "path": "203.0.113.46",
    "header": "203.0.113.48",
    "untrusted-xff": "203.0.113.50",
}


def _forms(name: str, addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> dict[str, bytes]:
    """An address (or network address) as text, packed in both byte orders, and as an integer."""
    n = int(addr)
    width = 4 if addr.version == 4 else 16
    out = {
        f"{name} text": str(addr).encode(),
        f"{name} packed": addr.packed,
        f"{name} packed-le": addr.packed[::-1],
        f"{name} int": str(n).encode(),
    }
    if addr.version == 6:
        out[f"{name} exploded"] = addr.exploded.encode()
    else:
        out[f"{name} mapped"] = ipaddress.IPv6Address(f"::ffff:{addr}").packed
        out[f"{name} int64-le"] = n.to_bytes(8, "little")
        out[f"{name} int64-be"] = n.to_bytes(8, "big")
    assert len(addr.packed) == width
    return out


def needles() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for ip in [*CLIENTS, PROXY, *FORWARDED, *CARRIED.values()]:
        addr = ipaddress.ip_address(ip)
        out.update(_forms(ip, addr))
        # the network it belongs to: a /24 (IPv4) or /48 and /64 (IPv6) is an address too
        for bits in (24,) if addr.version == 4 else (48, 64):
            net = ipaddress.ip_network(f"{ip}/{bits}", strict=False)
            out[f"{ip} /{bits} cidr"] = str(net).encode()
            out.update(_forms(f"{ip} /{bits}", net.network_address))
            if addr.version == 6:
                groups = net.network_address.exploded.split(":")[: bits // 16]
                out[f"{ip} /{bits} prefix"] = (":".join(groups) + ":").encode()
                out[f"{ip} /{bits} packed prefix"] = net.network_address.packed[: bits // 8]
            else:
                out[f"{ip} /{bits} prefix"] = (str(net.network_address).rsplit(".", 1)[0] + ".").encode()
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
        # Addresses carried inside what a client sends, from a client that is not a trusted proxy.
        with httpx.Client(
            transport=httpx.HTTPTransport(local_address=CLIENTS[0]), base_url=f"http://127.0.0.1:{port}"
        ) as client:
            carried = [
                client.get("/simple/six/", headers={"user-agent": f"pip/24.0 (build host {CARRIED['ua']})"}),
                client.get("/simple/six/", headers={"user-agent": f"uv/0.4 [{CARRIED['ua6']}]:443"}),
                client.get(f"/simple/{CARRIED['path']}/"),
                client.get(f"/files/x/{CARRIED['path']}/y.whl"),
                client.get(
                    "/simple/six/",
                    headers={
                        "x-real-ip": CARRIED["header"],
                        "x-client-ip": CARRIED["header"],
                        "true-client-ip": CARRIED["header"],
                        "via": f"1.1 {CARRIED['header']}",
                        "x-forwarded-for": CARRIED["untrusted-xff"],
                        "forwarded": f"for={CARRIED['untrusted-xff']}",
                    },
                ),
            ]
            assert [r.status_code for r in carried] == [200, 200, 301, 404, 200]  # 301: to the normal name
            sent += len(carried)
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
    assert events.count("[ip]") >= 4  # the carried addresses were redacted, not dropped with their event
    rows = [line.split(",") for line in events.splitlines()]
    col = rows[0].index("source_id")
    assert len({r[col] for r in rows[1:]}) == len(sources)


def test_fleet_mode_keeps_no_address_in_jetstream_or_the_collector(
    tmp_path: Path, static_index: StaticIndex
) -> None:
    """Gateway -> NATS JetStream -> collector: the stream's files, the day-key bucket and the
    collector's store hold no client address either."""
    nats = NatsServer(tmp_path / "jetstream")
    port = free_port()
    gw_dir, col_dir = tmp_path / "gateway", tmp_path / "collector"
    gw_dir.mkdir()
    col_dir.mkdir()
    gw_cfg = gw_dir / "pkgate.toml"
    gw_cfg.write_text(
        f'[server]\nport = {port}\n[gateway]\nsecret = "privacy-test-secret-0123"\ndefault_upstream = "up"\n'
        f'[upstreams.up]\nurl = "{static_index.simple_url}"\n'
        f'[storage]\ndata_dir = "{gw_dir / "data"}"\nload_interval = 0.2\n'
        f'[privacy]\ntrusted_proxies = ["{PROXY}/32"]\n[fleet]\nnats_url = "{nats.url}"\n'
    )
    col_cfg = col_dir / "pkgate.toml"
    col_cfg.write_text(f'[storage]\ndata_dir = "{col_dir / "data"}"\n[fleet]\nnats_url = "{nats.url}"\n')
    gateway = start_pkgate(["serve", "--config", str(gw_cfg)], gw_dir / "log")
    collector = start_pkgate(["collect", "--config", str(col_cfg)], col_dir / "log")
    try:
        wait_healthy(port, gateway, gw_dir / "log")
        sent = 0
        for source, forwarded in [*((ip, None) for ip in CLIENTS), *((PROXY, f) for f in FORWARDED)]:
            headers = {"user-agent": f"pip/24.0 (host {CARRIED['ua']})"}
            if forwarded:
                headers["x-forwarded-for"] = forwarded
            with httpx.Client(
                transport=httpx.HTTPTransport(local_address=source),
                base_url=f"http://127.0.0.1:{port}",
                headers=headers,
            ) as client:
                page = client.get("/simple/six/", headers={"accept": "application/vnd.pypi.simple.v1+json"})
                assert page.status_code == 200
                assert client.get(page.json()["files"][0]["url"]).status_code == 302
                sent += 2
        deadline = time.monotonic() + 60
        while stored(col_cfg) < sent:  # forwarded through JetStream and collected
            assert time.monotonic() < deadline, (col_dir / "log").read_text()
            time.sleep(0.5)
        values = asyncio.run(kv_values(nats.url))
        assert values  # the fleet's day keys are in the bucket
        leaked = [
            f"kv {key}: {name}"
            for key, value in values.items()
            for name, n in needles().items()
            if n in value
        ]
        assert leaked == []
        assert scan(tmp_path) == []  # jetstream/ (stream + KV files), gateway/, collector/
        assert list((tmp_path / "jetstream").rglob("*.blk"))  # the stream's message blocks were scanned
    finally:
        for proc in (gateway, collector):
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        nats.stop()
    assert scan(tmp_path) == []


def stored(cfg: Path) -> int:
    out = subprocess.run(
        [str(BIN / "pkgate"), "events", "--config", str(cfg), "--format", "csv"],
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    return max(0, out.stdout.count("\n") - 1) if out.returncode == 0 else 0


async def kv_values(url: str) -> dict[str, bytes]:
    """Every value of the day-key bucket, read back through NATS."""
    nc = await nats_client.connect(url)
    try:
        kv = await nc.jetstream().key_value(BUCKET)
        out = {}
        for key in await kv.keys():
            entry = await kv.get(key)
            out[key] = entry.value or b""
        return out
    finally:
        await nc.close()
