from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pkgate.insights.registry import INSIGHTS
from pkgate.web import create_app
from tests.web.conftest import TOKEN

AUTH = {"authorization": f"Bearer {TOKEN}"}
RANGE = {"since": "2026-03-01", "until": "2026-03-10"}


def asgi_client(app: httpx._transports.asgi._ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://testserver")


@pytest.fixture
async def client(store: Path, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    chart = tmp_path / "chart.js"
    chart.write_text("/* stand-in for the npm bundle */")
    async with asgi_client(create_app(store, TOKEN, chart_js=chart)) as c:
        yield c


async def api_paths(client: httpx.AsyncClient) -> list[str]:
    doc = (await client.get("/api/openapi.json")).json()
    return sorted(doc["paths"])


async def test_openapi_lists_every_endpoint_with_schemas(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    assert sorted(doc["paths"]) == sorted(f"/api/{i.name}" for i in INSIGHTS)
    ops = doc["paths"]["/api/downloads"]["get"]
    assert {p["name"] for p in ops["parameters"]} >= {"since", "until", "project", "ecosystem"}
    assert set(ops["responses"]) == {"200", "400", "401", "429", "503"}
    assert "DownloadRow" in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong-token-wrong-token"},
        {"authorization": f"Basic {TOKEN}"},
        {"authorization": "Bearer"},
        {"authorization": f"Bearer {TOKEN[:-1]}"},
        {"authorization": f"Bearer {TOKEN}x"},
    ],
)
async def test_every_api_route_needs_the_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    paths = [*await api_paths(client), "/api/", "/api/no-such-thing", "/api/downloads/extra"]
    for path in paths:
        resp = await client.get(path, params=RANGE, headers=headers)
        assert resp.status_code == 401, path
        assert resp.json() == {"error": "missing or wrong admin token"}
        assert resp.headers["www-authenticate"].startswith("Bearer")
        assert resp.headers["cache-control"] == "no-store"


async def test_every_api_route_answers_with_the_token(client: httpx.AsyncClient) -> None:
    for path in await api_paths(client):
        resp = await client.get(path, params={**RANGE, "by": "installer"}, headers=AUTH)
        assert resp.status_code == 200, (path, resp.text)
        body = resp.json()
        assert body["query"]["since"].startswith("2026-03-01T00:00:00")
        assert isinstance(body["rows"], list)
        # the sample has no session with two projects: nothing is pulled in nor installed alongside
        # (those are checked in tests/insights/test_deps.py and tests/e2e/test_deps.py)
        assert body["rows"] or path in ("/api/pulled_in_by", "/api/alongside"), path


async def test_downloads_numbers_come_from_the_store(client: httpx.AsyncClient) -> None:
    rows = (await client.get("/api/downloads", params={**RANGE, "project": "SIX"}, headers=AUTH)).json()[
        "rows"
    ]
    by_version: dict[Any, dict[str, Any]] = {r["version"]: r for r in rows}
    assert {r["project"] for r in rows} == {"six"}
    assert by_version["1.16.0"]["downloads"] == 3
    assert by_version["1.16.0"]["failed"] == 1
    assert by_version["1.15.0"]["downloads"] == 1
    assert by_version[None]["index_hits"] == 1
    assert by_version[None]["not_modified"] == 1


async def test_projects_most_downloaded_first(client: httpx.AsyncClient) -> None:
    rows = (await client.get("/api/projects", params=RANGE, headers=AUTH)).json()["rows"]
    assert rows == [
        {"project": "six", "downloads": 4, "installs": 4, "requests": 7, "ecosystem": "python"},
        {"project": "flask", "downloads": 2, "installs": 2, "requests": 2, "ecosystem": "python"},
    ]
    one = (await client.get("/api/projects", params={**RANGE, "limit": "1"}, headers=AUTH)).json()["rows"]
    assert [r["project"] for r in one] == ["six"]


async def test_range_filters(client: httpx.AsyncClient) -> None:
    rows = (
        await client.get(
            "/api/downloads", params={"since": "2026-03-03", "until": "2026-03-04"}, headers=AUTH
        )
    ).json()["rows"]
    assert sum(r["downloads"] for r in rows) == 3  # day 1: six once, flask twice


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "nope"}, "since: expected a date"),
        ({"until": "2026-02-30"}, "until: expected a date"),
        ({"since": "2026-03-05", "until": "2026-03-01"}, "since: must be before until"),
        ({"project": "bad name"}, "project: not a valid project name"),
    ],
)
async def test_bad_parameters_are_400_with_the_reason(
    client: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    for path in await api_paths(client):
        resp = await client.get(path, params=params, headers=AUTH)
        assert resp.status_code == 400, path
        assert resp.json()["error"].startswith(message)


async def test_bad_limit_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/projects", params={"limit": "0"}, headers=AUTH)
    assert resp.status_code == 400
    assert resp.json()["error"] == "limit: expected an integer 1..10000, got 0"


async def test_missing_store_is_503(tmp_path: Path) -> None:
    app = create_app(tmp_path / "none.duckdb", TOKEN, chart_js=tmp_path / "x.js")
    async with asgi_client(app) as c:
        resp = await c.get("/api/downloads", headers=AUTH)
    assert resp.status_code == 503
    assert "no store at" in resp.json()["error"]


async def test_short_token_is_refused(store: Path, tmp_path: Path) -> None:
    from pkgate.errors import ConfigError

    with pytest.raises(ConfigError, match="at least 16 characters"):
        create_app(store, "short", chart_js=tmp_path / "x.js")


async def test_dashboard_pages_are_served_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard/projects/six"):
        resp = await client.get(path)
        assert resp.status_code == 200
        assert "<canvas" in resp.text
        assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert (await client.get("/dashboard/vendor/chart.js")).text.startswith("/* stand-in")
    assert (await client.get("/dashboard/static/app.js")).status_code == 200
    assert (await client.get("/dashboard/static/../app.py")).status_code == 404
    assert (await client.get("/dashboard/static/app.py")).status_code == 404
    resp = await client.get("/", follow_redirects=False)
    assert (resp.status_code, resp.headers["location"]) == (302, "/dashboard")


async def test_daily_rows(client: httpx.AsyncClient) -> None:
    params = {"since": "2026-03-01", "until": "2026-03-05", "project": "six"}
    rows = (await client.get("/api/downloads_daily", params=params, headers=AUTH)).json()["rows"]
    per_day: dict[str, int] = {}
    for r in rows:
        per_day[r["day"]] = per_day.get(r["day"], 0) + r["downloads"]
    assert per_day == {"2026-03-02": 3, "2026-03-03": 1}


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("/api/breakdown", {}, "by: required; one of installer, "),
        ("/api/breakdown", {"by": "ip"}, "by: expected one of installer, "),
        ("/api/breakdown", {"by": "python", "over_time": "maybe"}, "over_time: expected true or false"),
        ("/api/uniques", {"level": "planet"}, "level: expected one of client, network, got 'planet'"),
        ("/api/uniques", {"period": "year"}, "period: expected one of day, week, month"),
        ("/api/heavy_hitters", {"top": "0"}, "top: expected an integer 1..1000, got 0"),
        ("/api/downloads", {"ecosystem": "cargo"}, "ecosystem: expected one of python, npm"),
        ("/api/adoption", {"period": "month"}, "period: expected one of day, week"),
        ("/api/behaviour", {"limit": "abc"}, "limit: expected an integer"),
    ],
)
async def test_endpoint_parameters_are_checked(
    client: httpx.AsyncClient, path: str, params: dict[str, str], message: str
) -> None:
    resp = await client.get(path, params={**RANGE, **params}, headers=AUTH)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith(message)


async def test_breakdown_and_heavy_hitters(client: httpx.AsyncClient) -> None:
    rows = (await client.get("/api/breakdown", params={**RANGE, "by": "installer"}, headers=AUTH)).json()[
        "rows"
    ]
    assert [(r["value"], r["downloads"]) for r in rows] == [("pip", 6)]
    rows = (await client.get("/api/breakdown", params={**RANGE, "by": "country"}, headers=AUTH)).json()[
        "rows"
    ]
    assert [(r["value"], r["downloads"], r["requests"]) for r in rows] == [("DE", 6, 9)]
    hh = (await client.get("/api/heavy_hitters", params=RANGE, headers=AUTH)).json()["rows"]
    assert sum(r["downloads"] for r in hh) == 6  # per day, every downloading source
    assert {r["source_id"] for r in hh} == {"aaaa01", "aaaa02", "aaaa03", "bbbb01", "bbbb02"}
    assert not any(r["aggressive"] for r in hh)
