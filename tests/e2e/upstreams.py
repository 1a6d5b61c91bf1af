"""Real upstream indexes for end-to-end tests, each recording the requests it answered.

Two servers, all on random loopback ports:
- `PypiServer`: pypiserver (a real PEP 503 index) in a subprocess; its access log is parsed.
- `StaticIndex`: the demo's static PEP 691 index (`pkgate.demo.upstream`), one implementation for
  the package and the tests: JSON + HTML pages generated from the same files, with PEP 658/714
  metadata files, PEP 700 fields and a PEP 592 yank, negotiating on `Accept` (or JSON only).
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Final

# One static index for the package (pkgate demo) and the tests, re-exported here.
from pkgate.demo.upstream import HTML_TYPE as HTML_TYPE
from pkgate.demo.upstream import JSON_TYPE as JSON_TYPE
from pkgate.demo.upstream import Dist as Dist
from pkgate.demo.upstream import Request as Request
from pkgate.demo.upstream import StaticUpstream, build_index
from pkgate.demo.upstream import read_dist as read_dist
from pkgate.demo.upstream import read_dists as read_dists

StaticIndex = StaticUpstream
build_static_index = build_index


def free_port() -> int:
    """A currently free loopback TCP port (for servers that cannot bind port 0 themselves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 20.0) -> None:
    """Block until `url` answers 200; the servers here need a moment to bind."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer 200 within {timeout}s")
        time.sleep(0.05)


# --- pypiserver ------------------------------------------------------------------------------

_ACCESS_LINE: Final = re.compile(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3}) ')


class PypiServer:
    """`pypi-server run` on a random port, unauthenticated, access log in a file."""

    def __init__(self, executable: Path, packages: Path, log_file: Path) -> None:
        self.port = free_port()
        self.log_file = log_file
        self._argv = [
            str(executable), "run", "-p", str(self.port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
            "-v", "--log-file", str(log_file), "--log-stream", "none", "--disable-fallback",
            str(packages),
        ]  # fmt: skip
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def simple_url(self) -> str:
        return f"{self.url}/simple/"

    def start(self) -> PypiServer:
        with self.log_file.with_suffix(".stderr").open("wb") as err:
            self._proc = subprocess.Popen(self._argv, stdout=subprocess.DEVNULL, stderr=err)
        wait_http(f"{self.url}/health")
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def _parse(self) -> list[Request]:
        text = self.log_file.read_text() if self.log_file.exists() else ""
        return [Request(m[1], m[2], int(m[3])) for m in _ACCESS_LINE.finditer(text)]

    def mark(self) -> int:
        return len(self._parse())

    def requests(self, since: int = 0) -> list[Request]:
        """Requests logged after `since`; waits until the log stops growing (it is written
        just after the response, so a fast client can be done before the last line is)."""
        seen = self._parse()
        for _ in range(20):
            time.sleep(0.05)
            again = self._parse()
            if len(again) == len(seen):
                break
            seen = again
        return seen[since:]
