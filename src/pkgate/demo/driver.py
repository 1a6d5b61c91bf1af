"""Plays the demo's visits against the gateway over HTTP, the way pip and uv would.

Each visit is real requests: the project page (JSON, PEP 691), then the metadata file and the
distribution through the gateway's signed links (the 302 to the upstream is the download; it is not
followed, the upstream's bytes add nothing to the demo). The simulated source address goes in
`X-Forwarded-For` (the demo gateway trusts loopback) and the simulated time in `DEMO_CLOCK_HEADER`.
Days are played in order, clients in parallel within a day, each client's visits in time order.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final
from urllib.parse import urljoin

import httpx

from pkgate.demo.clock import DEMO_CLOCK_HEADER
from pkgate.demo.traffic import Visit, by_day

__all__ = ["DEMO_CLOCK_HEADER", "Player"]

_JSON: Final = "application/vnd.pypi.simple.v1+json"


class Player:
    def __init__(self, gateway_url: str, threads: int = 8) -> None:
        self.base = gateway_url.rstrip("/")
        self.threads = threads
        self.client = httpx.Client(
            timeout=30.0, follow_redirects=False, limits=httpx.Limits(max_connections=threads)
        )
        self.statuses: collections.Counter[tuple[str, int]] = collections.Counter()
        self._etags: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def _get(self, visit: Visit, url: str, extra: dict[str, str] | None = None) -> httpx.Response:
        headers = {
            "user-agent": visit.user_agent,
            "x-forwarded-for": visit.ip,
            DEMO_CLOCK_HEADER: str(visit.ts_us),
            **(extra or {}),
        }
        resp = self.client.get(url, headers=headers)
        with self._lock:
            self.statuses[(visit.client, resp.status_code)] += 1
        return resp

    def play_visit(self, visit: Visit) -> None:
        page_url = f"{self.base}/simple/{visit.project}/"
        extra = {"accept": _JSON}
        key = (visit.ip, visit.project)
        if visit.revalidate and key in self._etags:
            extra["if-none-match"] = self._etags[key]
        resp = self._get(visit, page_url, extra)
        if resp.status_code == 304 or resp.status_code != 200:
            return
        if "etag" in resp.headers:
            self._etags[key] = resp.headers["etag"]
        if not visit.download:
            return
        files = resp.json().get("files", [])
        if not visit.all_files:
            wanted = [f for f in files if visit.version is None or f"-{visit.version}" in f["filename"]]
            files = wanted[-1:] if wanted else files[-1:]
        for f in files:
            url = urljoin(page_url, f["url"])
            if visit.metadata and f.get("core-metadata"):
                self._get(visit, url.split("#", 1)[0] + ".metadata")
            self._get(visit, url.split("#", 1)[0])

    def _play_client(self, visits: Sequence[Visit]) -> None:
        for v in visits:
            self.play_visit(v)

    def play(self, visits: Sequence[Visit]) -> int:
        """Play everything; return the number of requests sent."""
        with ThreadPoolExecutor(self.threads) as pool:
            for day in by_day(visits):
                per_client: dict[str, list[Visit]] = {}
                for v in day:
                    per_client.setdefault(v.ip, []).append(v)
                list(pool.map(self._play_client, per_client.values()))
        return sum(self.statuses.values())
