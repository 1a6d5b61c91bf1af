"""Installs vs downloads from real clients: pip and uv each fetch six twice within a minute (no
cache), which is one install per client session however many GETs it made; `pkgate report`,
its breakdowns and uniques say so, and agree with a session count recomputed here from the events."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from pkgate.store.aggregates import SESSION_GAP_S
from tests.e2e.conftest import Clients, Gateway, StartGateway, installed
from tests.e2e.upstreams import StaticIndex

pytestmark = pytest.mark.e2e

SIX = "six-1.16.0-py2.py3-none-any.whl"


def report(gateway: Gateway, *args: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(gateway.cli("report", *args, "--format", "json"))
    return rows


def is_download(e: dict[str, Any]) -> bool:
    return e["kind"] == "file" and e["method"] == "GET" and e["status"] == 302 and not e["partial"]


def installs_from_events(events: list[dict[str, Any]]) -> dict[str, int]:
    """filename -> installs: sessions split where one (source, User-Agent) pauses >= the gap."""
    by_client: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        by_client[(e["source_id"], e["user_agent"])].append(e)
    pairs: set[tuple[str, str, int, str]] = set()
    for (source, ua), evs in by_client.items():
        session, last = 0, None
        for e in sorted(evs, key=lambda e: (e["ts_us"], e["id"])):
            if last is not None and e["ts_us"] - last >= SESSION_GAP_S * 1_000_000:
                session += 1
            last = e["ts_us"]
            if is_download(e):
                pairs.add((source, ua, session, e["filename"]))
    out: dict[str, int] = defaultdict(int)
    for *_, filename in pairs:
        out[filename] += 1
    return dict(out)


def test_refetches_in_one_session_are_one_install(
    start_gateway: StartGateway, static_index: StaticIndex, clients: Clients, tmp_path: Path
) -> None:
    gateway = start_gateway(static_index.simple_url)
    for n in (1, 2):  # PIP_NO_CACHE_DIR: the second run downloads again
        done = clients.pip(
            "download", "--no-deps", "--dest", str(tmp_path / f"dl{n}"), "--index-url", gateway.url, "six"
        )
        assert done.returncode == 0, done.stdout + done.stderr
    venv = clients.uv_venv(tmp_path / "uv-venv")
    for extra in ((), ("--reinstall",)):  # UV_NO_CACHE: the reinstall fetches the wheel again
        done = clients.uv("pip", "install", *extra, "--python", str(venv), "--index-url", gateway.url, "six")
        assert done.returncode == 0, done.stdout + done.stderr
    assert installed(venv) == {"six": "1.16.0"}
    done = clients.pip(
        "install", "--index-url", gateway.url, "jaraco.functools", python=clients.fresh_venv(tmp_path / "v")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert gateway.stop() == 0
    events = gateway.events()

    six_downloads = [e for e in events if is_download(e) and e["filename"] == SIX]
    assert {e["installer"] for e in six_downloads} == {"pip", "uv"}
    assert len(six_downloads) >= 4  # at least two GETs per client
    expected = installs_from_events(events)
    assert expected[SIX] == 2  # one pip session, one uv session

    rows = {(r["project"], r["version"]): r for r in report(gateway, "downloads")}
    six = rows[("six", "1.16.0")]
    assert (six["downloads"], six["installs"]) == (len(six_downloads), 2)
    for e in events:
        if is_download(e) and e["filename"] != SIX:
            assert rows[(e["project"], e["version"])]["installs"] == expected[e["filename"]] == 1
    daily = report(gateway, "downloads-daily", "--project", "six")
    assert sum(r["installs"] for r in daily) == 2
    by = {r["value"]: r for r in report(gateway, "breakdown", "--by", "installer", "--project", "six")}
    assert (by["pip"]["installs"], by["uv"]["installs"]) == (1, 1)
    total = next(r for r in report(gateway, "uniques") if r["project"] is None)
    assert total["installs"] == sum(expected.values())
    assert total["downloads"] == sum(is_download(e) for e in events)
    hitters = report(gateway, "heavy-hitters")
    assert sum(r["installs"] for r in hitters) == sum(expected.values())
    # one machine all along: one unique source in the week and month (HLL sketches), one per day
    for period in ("week", "month"):
        [week] = [r for r in report(gateway, "uniques", "--period", period) if r["project"] is None]
        assert week["unique_sources"] == 1, period
        assert week["unique_downloaders"] == 1, period
