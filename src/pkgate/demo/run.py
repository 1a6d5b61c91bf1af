"""`pkgate demo` end to end: local upstream -> `pkgate serve` (subprocess) -> simulated clients -> store.

The gateway is the real one (`pkgate.demo.gateway`: `pkgate serve` with the demo clock injected),
started with a temporary config: loopback only, trusting loopback's `X-Forwarded-For` (the
simulated addresses) and taking each request's simulated time from `DEMO_CLOCK_HEADER`. Nothing is inserted into the store directly.
"""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import duckdb
import httpx
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pkgate.config import DataPaths
from pkgate.demo.driver import Player
from pkgate.demo.traffic import DAY_US, plan
from pkgate.demo.upstream import Dist, StaticUpstream, build_index, read_dists
from pkgate.errors import PkgateError, StoreError
from pkgate.store import connect

__all__ = ["Demo", "find_wheels"]


def find_wheels() -> Path | None:
    """`.cache/test-dists` of the source tree (filled by scripts/fetch-test-wheels), if any."""
    for base in [*Path(__file__).resolve().parents, Path.cwd()]:
        d = base / ".cache" / "test-dists"
        if d.is_dir() and any(d.glob("*.whl")):
            return d
    return None


def requires_of(dists: list[Dist]) -> dict[str, list[str]]:
    """Each project's requirements (normalised names, any version of it, extras left out), from
    its wheels' METADATA: what a resolver installing it fetches next."""
    out: dict[str, list[str]] = {}
    for d in dists:
        if d.metadata is None:
            continue
        headers = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(d.metadata)
        names = out.setdefault(d.project, [])
        for line in headers.get_all("Requires-Dist") or []:
            try:
                req = Requirement(str(line))
            except InvalidRequirement:
                continue
            name = str(canonicalize_name(req.name))
            if (req.marker is None or req.marker.evaluate({"extra": ""})) and name not in names:
                names.append(name)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    """One demo run in `workdir`; `start()`, `play()`, then `stop()`."""

    workdir: Path
    wheels: Path
    token: str
    days: int = 3
    seed: int = 7
    say: Callable[[str], None] = print
    gateway_port: int = field(default_factory=_free_port)
    upstream: StaticUpstream | None = None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def store(self) -> Path:
        return DataPaths(self.workdir / "data").store

    def config_text(self, upstream_url: str) -> str:
        return (
            f'[server]\nhost = "127.0.0.1"\nport = {self.gateway_port}\nworkers = 1\n\n'
            f'[gateway]\nid = "demo"\ndefault_upstream = "local"\nadmin_token = "{self.token}"\n\n'
            f'[upstreams.local]\nurl = "{upstream_url}"\n\n'
            f'[storage]\ndata_dir = "{self.workdir / "data"}"\nfsync = "off"\nload_interval = 0.5\n\n'
            '[privacy]\ntrusted_proxies = ["127.0.0.1/32"]\nforwarded_header = "x-forwarded-for"\n'
        )

    def start(self) -> None:
        dists = read_dists(self.wheels)
        if not dists:
            raise PkgateError(
                f"no wheels in {self.wheels} (run scripts/fetch-test-wheels, or pass --wheels DIR)"
            )
        self.projects: dict[str, list[str]] = {}
        for d in dists:
            self.projects.setdefault(d.project, []).append(d.version)
        self.requires = requires_of(dists)
        build_index(dists, self.workdir / "upstream")
        self.upstream = StaticUpstream(self.workdir / "upstream").start()
        config = self.workdir / "pkgate.toml"
        config.write_text(self.config_text(self.upstream.simple_url))
        self._launch(config)
        self.say(
            f"gateway {self.gateway_url}/simple/ in front of {len(dists)} files of {len(self.projects)} projects"
        )

    def _launch(self, config: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PKGATE_")}
        if self._log is None:
            self._log = (self.workdir / "gateway.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pkgate.demo.gateway", "--config", str(config)],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.gateway_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise PkgateError(f"the demo gateway did not start; see {self.workdir / 'gateway.log'}")
            time.sleep(0.1)

    def play(self) -> int:
        """Send the simulated days' traffic; wait until the store has all of it; return the count."""
        now = dt.datetime.now(dt.UTC)
        now_us = int(now.timestamp() * 1_000_000)
        start_us = (now_us // DAY_US - self.days + 1) * DAY_US
        visits = plan(self.projects, start_us, self.days, now_us, self.seed, self.requires)
        player = Player(self.gateway_url)
        began = time.monotonic()
        try:
            sent = player.play(visits)
        finally:
            player.close()
        self.say(
            f"sent {sent} requests ({len(visits)} visits over {self.days} days) in {time.monotonic() - began:.1f}s"
        )
        self.wait_loaded(sent)
        return sent

    def stored(self) -> int:
        try:
            con = connect(self.store, read_only=True, wait=2.0)
        except StoreError:
            return 0
        try:
            row = con.execute("SELECT count(*) FROM events").fetchone()
        except duckdb.Error:  # the table does not exist before the first load
            return 0
        finally:
            con.close()
        return int(row[0]) if row else 0

    def wait_loaded(self, expected: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.stored() < expected:
            if time.monotonic() > deadline:
                raise PkgateError(f"the store has {self.stored()} of {expected} events after {timeout:.0f}s")
            time.sleep(0.3)

    def settle(self) -> None:
        """Restart the gateway: its drain at stop reads the Requires-Dist of what was downloaded
        and refreshes the rollups, as its upkeep would within minutes, so the dashboard has the
        dependency insights at once; the gateway is then up again for you to try."""
        self._terminate()
        self._launch(self.workdir / "pkgate.toml")

    def _terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self) -> None:
        self._terminate()
        if self._log is not None:
            self._log.close()
        if self.upstream is not None:
            self.upstream.stop()
