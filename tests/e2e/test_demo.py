"""`pkgate demo` end to end: real gateway process, real HTTP from simulated clients, then the insights
and the API over what the gateway stored."""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import typer

from pkgate import insights
from pkgate.demo import traffic
from pkgate.demo.cli import demo
from pkgate.demo.run import Demo
from pkgate.insights import Query
from pkgate.insights.deps import alongside, dependencies, pulled_in_by
from pkgate.store import connect
from pkgate.web import create_app

from .upstreams import Dist

pytestmark = pytest.mark.e2e

ALL = Query(since=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), until=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
SIMULATED_IPS = [traffic.PROD_IP, traffic.MIRROR_IP, traffic.AGGRESSIVE_IP, "85.214.132.117", "90.84.10.23"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, dists: list[Dist]) -> Path:
    root = tmp_path_factory.mktemp("demo")
    wheels = dists[0].path.parent
    demo(days=3, port=0, wheels=str(wheels), workdir=str(root), serve=False, seed=7)
    return root


@pytest.fixture(scope="module")
def store(workdir: Path) -> Path:
    return workdir / "data" / "pkgate.duckdb"


def run(store: Path, fn: Any, *args: Any) -> Any:
    return run_q(store, ALL, fn, *args)


def run_q(store: Path, q: Query, fn: Any, *args: Any) -> Any:
    con = connect(store, read_only=True)
    try:
        return fn(con, q, *args)
    finally:
        con.close()


def test_every_kind_of_client_went_through_the_gateway(store: Path) -> None:
    rows = run(store, insights.downloads)
    assert {r.project for r in rows} == {"flit-core", "jaraco-functools", "more-itertools", "six", "tomli"}
    total = {
        f: sum(getattr(r, f) for r in rows) for f in ("downloads", "index_hits", "not_modified", "metadata")
    }
    assert total["downloads"] > 400
    assert total["not_modified"] > 300  # the production poller revalidates
    assert total["metadata"] > 50  # PEP 658 fetches by CI and developers
    installers = {r.value: r.downloads for r in run(store, insights.breakdown, "installer")}
    assert set(installers) >= {"pip", "uv", "bandersnatch"}
    countries = {r.value for r in run(store, insights.breakdown, "country")}
    assert countries >= {"DE", "FR", "JP", "BR", "IN", "GB", "US", "RU"}
    systems = {r.value for r in run(store, insights.breakdown, "system")}
    assert systems >= {"Linux", "Darwin", "Windows"}
    assert {r.value for r in run(store, insights.breakdown, "ci")} >= {"true"}


def test_the_aggressive_source_tops_the_heavy_hitters(store: Path) -> None:
    top = run(store, insights.heavy_hitters, 3)[0]
    assert top.aggressive is True
    assert top.downloads == top.max_file_downloads == 360


def test_no_simulated_address_is_on_disk(workdir: Path) -> None:
    data = workdir / "data"
    for path in data.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            for ip in SIMULATED_IPS:
                assert ip.encode() not in blob, (ip, path)


def test_simulated_days_and_behaviour_classes(store: Path) -> None:
    days = {r.day for r in run(store, insights.downloads_daily)}
    assert len(days) == 3
    classes: collections.Counter[str] = collections.Counter()
    for r in run(store, insights.behaviour_summary):
        classes[r.behaviour] += r.sources
    assert set(classes) == set(insights.CLASSES)


def test_developers_installs_pull_in_their_dependencies(store: Path) -> None:
    """jaraco.functools requires more-itertools (its METADATA, read by the gateway from the demo's
    upstream at its drain): people's installs of it fetch more-itertools in the same session."""
    people = msgspec.structs.replace(ALL, all_sources=False)
    pulled = {(r.project, r.pulled_in_by) for r in run_q(store, people, pulled_in_by)}
    assert pulled == {("more-itertools", "jaraco-functools")}
    roles = {r.project: r for r in run_q(store, people, dependencies)}
    assert roles["more-itertools"].dependency > 0
    assert roles["jaraco-functools"].dependency == 0
    near = {(r.project, r.alongside) for r in run_q(store, people, alongside)}
    assert ("jaraco-functools", "more-itertools") in near


async def test_the_dashboard_api_serves_the_demo_store(store: Path, tmp_path: Path) -> None:
    token = "demo-token-0123456789"
    app = create_app(store, token, chart_js=tmp_path / "unused.js")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://demo") as client:
        resp = await client.get(
            "/api/heavy_hitters", params={"top": "1"}, headers={"authorization": f"Bearer {token}"}
        )
    assert resp.status_code == 200
    assert resp.json()["rows"][0]["aggressive"] is True


async def test_a_served_demo_has_its_dependencies_at_once(dists: list[Dist], tmp_path: Path) -> None:
    """What `pkgate demo` does before serving the dashboard: `settle` restarts the gateway, whose
    drain reads the Requires-Dist, so the API (read while the gateway runs again) has them."""
    token = "demo-token-0123456789"
    run_ = Demo(tmp_path / "demo", dists[0].path.parent, token, days=2, say=lambda m: None)
    (tmp_path / "demo").mkdir()
    try:
        run_.start()
        run_.play()
        run_.settle()
        assert httpx.get(f"{run_.gateway_url}/healthz").status_code == 200  # up again to try
        app = create_app(run_.store, token, chart_js=tmp_path / "unused.js")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://demo") as client:
            resp = await client.get("/api/pulled_in_by", headers={"authorization": f"Bearer {token}"})
    finally:
        run_.stop()
    assert resp.status_code == 200
    rows = resp.json()["rows"]
    assert [(r["project"], r["pulled_in_by"]) for r in rows] == [("more-itertools", "jaraco-functools")]
    assert rows[0]["installs"] > 0


def test_demo_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(typer.Exit):
        demo(days=0, wheels=str(tmp_path), serve=False)
    with pytest.raises(typer.Exit):
        demo(days=2, wheels=str(tmp_path / "missing"), serve=False)
