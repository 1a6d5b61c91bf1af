"""Fleet mode end to end: two `pkgate serve` gateways forward to a real nats-server (JetStream),
`pkgate collect` builds one store; every answered request is in it exactly once, and a gateway
keeps answering (and spooling) while NATS is down."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pkgate.edge.links import LinkSigner
from tests.e2e.upstreams import free_port
from tests.support.nats_server import NatsServer
from tests.support.process import BIN, clean_env, start_pkgate, wait_healthy

SECRET = "fleet-secret-0123456789abcdef"
pytestmark = pytest.mark.e2e


def gateway_config(workdir: Path, port: int, nats_url: str) -> Path:
    cfg = workdir / "pkgate.toml"
    cfg.write_text(
        f'[server]\nport = {port}\n[gateway]\nid = "{workdir.name}"\nsecret = "{SECRET}"\ndefault_upstream = "up"\n'
        '[upstreams.up]\nurl = "http://127.0.0.1:9/simple/"\n'
        f'[storage]\ndata_dir = "{workdir / "data"}"\nload_interval = 0.2\n'
        f'[fleet]\nnats_url = "{nats_url}"\n'
    )
    return cfg


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "js")
    yield server
    server.stop()


def test_two_gateways_one_collector(tmp_path: Path, nats_server: NatsServer) -> None:
    signer = LinkSigner(SECRET.encode())
    link = signer.make(
        "demo", "demo-1.0-py3-none-any.whl", "up https://files.example/demo-1.0-py3-none-any.whl"
    )
    gateways = []
    for name in ("gw-eu", "gw-us"):
        workdir = tmp_path / name
        workdir.mkdir()
        port = free_port()
        cfg = gateway_config(workdir, port, nats_server.url)
        proc = start_pkgate(["serve", "--config", str(cfg)], workdir / "log")
        gateways.append((workdir, port, proc))
    tags: list[str] = []
    for workdir, port, proc in gateways:
        wait_healthy(port, proc, workdir / "log")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for i in range(40):
                tag = f"fleettest/{workdir.name}/{i}"
                assert client.get(link, headers={"user-agent": tag}).status_code == 302
                tags.append(tag)
    # NATS goes down: gateways keep answering and spooling; the events arrive after it is back.
    nats_server.stop()
    workdir, port, proc = gateways[0]
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for i in range(10):
            tag = f"fleettest/outage/{i}"
            assert client.get(link, headers={"user-agent": tag}).status_code == 302
            tags.append(tag)
    restarted = NatsServer(nats_server.store_dir, port=nats_server.port)
    try:
        collector_dir = tmp_path / "collector"
        collector_dir.mkdir()
        ccfg = collector_dir / "pkgate.toml"
        ccfg.write_text(
            f'[storage]\ndata_dir = "{collector_dir / "data"}"\n[fleet]\nnats_url = "{restarted.url}"\n'
        )
        collector = start_pkgate(["collect", "--config", str(ccfg)], collector_dir / "log")
        deadline = time.monotonic() + 60
        for workdir, _port, proc in gateways:  # a clean stop forwards what is left
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, (workdir / "log").read_text()
        events: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            out = subprocess.run(
                [str(BIN / "pkgate"), "events", "--config", str(ccfg), "--format", "json"],
                capture_output=True,
                text=True,
                env=clean_env(),
            )
            if out.returncode == 0:
                events = json.loads(out.stdout)
                if len(events) >= len(tags):
                    break
        collector.send_signal(signal.SIGTERM)
        assert collector.wait(30) == 0, (collector_dir / "log").read_text()
    finally:
        restarted.stop()
    got = [str(e["user_agent"]) for e in events]
    assert sorted(got) == sorted(tags)  # all of them, once each
    assert {e["gateway"] for e in events} == {"gw-eu", "gw-us"}
    # one client machine, one day, two gateways: one source id (the fleet shares the day's key)
    assert len({e["source_id"] for e in events}) == 1
