"""Public stats: the numbers of a known store, the privacy guarantees, the routes, badges and publish."""

from __future__ import annotations

import collections
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from pkgate.cli import app as cli
from pkgate.config import Public
from pkgate.insights.noise import Laplace
from pkgate.insights.public import Release, Settings, release, suppress
from pkgate.store import connect
from pkgate.web import create_app
from pkgate.web.public import PublicSite, publish
from pkgate.web.serve import BackgroundServer
from tests.web.conftest import TOKEN
from tests.web.public_data import MONTH, TODAY, WEEK, make_store


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two neighbouring stores: with and without the one person from IS."""
    return {
        "with": make_store(tmp_path_factory.mktemp("with") / "pkgate.duckdb"),
        "without": make_store(tmp_path_factory.mktemp("without") / "pkgate.duckdb", loner=False),
    }


def made(store: Path, settings: Settings = Settings(), noise: Any = None) -> Release:  # noqa: B008
    con = connect(store, read_only=True)
    try:
        return release(con, "demo", TODAY, settings, noise, {"test": True} if noise else None)
    finally:
        con.close()


def cells(r: Release, period: str, by: str) -> dict[str, int]:
    return {c.value: c.installs for c in getattr(r, period).by[by]}


def test_the_numbers_of_a_known_week_and_month(stores: dict[str, Path]) -> None:
    r = made(stores["with"])
    assert (r.week.start, r.week.end) == WEEK
    assert (r.month.start, r.month.end) == MONTH
    assert r.week.installs == 31  # 30 people + the loner; mirror, CI and bot left out
    assert r.month.installs == 61  # and the 30 people's installs of 2026-11-10
    assert abs((r.week.unique_sources or 0) - 31) <= 1  # HyperLogLog, linear counting range
    assert abs((r.month.unique_sources or 0) - 31) <= 1  # the same people: distinct over the month
    assert cells(r, "week", "version") == {"2.0": 18, "1.0": 13}
    assert cells(r, "month", "version") == {"2.0": 48, "1.0": 13}
    # python 3.12: 18, 3.11: 12, 3.8: 1 -> 3.8 withheld, and 3.11 too (else 31 - 18 - 12 = 1 shows it)
    assert cells(r, "week", "python") == {"3.12": 18}
    assert r.week.withheld["python"] == 2
    assert cells(r, "week", "country") == {"DE": 20}  # FR 10 withheld with IS 1
    assert cells(r, "week", "os") == {}  # Linux 30, Windows 1: nothing can be shown
    assert r.noise is None
    assert r.automation_excluded


def test_automation_can_be_included(stores: dict[str, Path]) -> None:
    r = made(stores["with"], Settings(include_automation=True))
    # + mirror and CI at max_installs (5) each, + the bot's one install
    assert r.week.installs == 31 + 5 + 5 + 1
    assert abs((r.week.unique_sources or 0) - 34) <= 1


def test_suppression_covers_the_complement() -> None:
    assert suppress([50, 3], 10) == [True, True]
    assert suppress([50, 12, 3], 10) == [False, True, True]
    assert suppress([50, 12, 9, 9], 10) == [False, False, True, True]
    assert suppress([5], 10) == [True]
    assert suppress([], 10) == []


def published_numbers(r: Release) -> list[int]:
    out = []
    for p in (r.week, r.month):
        out += [n for n in (p.unique_sources, p.installs) if n is not None]
        out += [c.installs for cs in p.by.values() for c in cs]
    return out


def test_privacy_no_cell_under_k_and_no_identifier(stores: dict[str, Path]) -> None:
    """One source's presence cannot be read off a number: every number is >= k, and in every
    table the withheld rest (total - shown) is 0 or >= k, so it hides in a group of k."""
    for key in stores:
        r = made(stores[key])
        assert published_numbers(r)
        assert min(published_numbers(r)) >= r.k
        for p in (r.week, r.month):
            assert p.installs is not None
            for name, cs in p.by.items():
                rest = p.installs - sum(c.installs for c in cs)
                assert rest == 0 or rest >= r.k, (key, name, rest)
        con = connect(stores[key], read_only=True)
        ids = con.execute(
            "SELECT DISTINCT unnest([source_id, network_id]) FROM events WHERE source_id IS NOT NULL"
        ).fetchall()
        con.close()
        text = msgspec.json.encode(r).decode()
        assert not [i for (i,) in ids if i and i in text]
        assert "10." not in text
        assert '"org"' not in text
        assert '"network' not in text
    # the loner (the only IS / Windows / Python 3.8 install) is in no shown cell of its own
    a = made(stores["with"])
    assert "IS" not in cells(a, "week", "country")
    assert "3.8" not in cells(a, "week", "python")


class Recorder:
    """Wraps the OpenDP noise and records what went through it."""

    def __init__(self, inner: Laplace) -> None:
        self.inner = inner
        self.calls: list[tuple[list[int], int]] = []

    def __call__(self, values: list[int], sensitivity: int) -> list[int]:
        self.calls.append((list(values), sensitivity))
        return self.inner(values, sensitivity)


def test_privacy_noise_is_applied_to_every_number(stores: dict[str, Path]) -> None:
    noise = Recorder(Laplace(2.0, 12))
    r = made(stores["with"], Settings(), noise)
    assert len(noise.calls) == 12  # 2 periods x (unique sources, installs, 4 breakdowns)
    sens = collections.Counter(s for _, s in noise.calls)
    assert sens == {1: 2, 5: 10}  # unique sources: one address; installs: max_installs per source-day
    assert sorted({v for vs, _ in noise.calls for v in vs} & {31, 1}, reverse=True) == [31, 1]
    assert noise.inner.spent == pytest.approx(2.0)  # OpenDP's own privacy maps sum to the budget
    exact = made(stores["with"])
    assert published_numbers(r) != published_numbers(exact)
    assert all(n >= r.k for n in published_numbers(r))


def test_privacy_noise_hides_one_install() -> None:
    """The released total with and without one source-day's installs: the two distributions are
    within e^epsilon of each other wherever both have mass (checked on 4000 draws each)."""
    noise = Laplace(1.0, 1)  # the whole budget on one number, scale 5 at sensitivity 5
    draws = {n: collections.Counter(v // 5 for v in noise([n] * 4000, 5)) for n in (31, 36)}
    for bucket in set(draws[31]) & set(draws[36]):
        a, b = draws[31][bucket], draws[36][bucket]
        if min(a, b) >= 100:
            assert max(a, b) / min(a, b) <= math.e * 1.5


@pytest.fixture(scope="module")
def site(stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> PublicSite:
    cache = tmp_path_factory.mktemp("cache")
    return PublicSite(Public(projects=["Demo"]), stores["with"], cache, today=lambda: TODAY)


@pytest.fixture(scope="module")
def server(site: PublicSite) -> Iterator[BackgroundServer]:
    srv = BackgroundServer(create_app(site.store, TOKEN, public=site)).start()
    yield srv
    srv.stop()


def test_routes_need_no_token_and_cache(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        r = c.get("/public/demo/stats.json")
        assert r.status_code == 200
        assert r.headers["cache-control"] == "public, max-age=3600"
        assert r.json()["week"]["installs"] == 31
        again = c.get("/public/demo/stats.json", headers={"if-none-match": r.headers["etag"]})
        assert again.status_code == 304
        page = c.get("/public/demo/")
        assert page.status_code == 200
        assert "demo" in page.text
        assert "10.1." not in page.text
        assert "script" not in page.headers["content-security-policy"].replace("'none'", "")
        assert c.get("/public/Demo").status_code == 308
        assert c.get("/public/other/").status_code == 404  # not opted in
        assert c.get("/public/demo/../../api/downloads").status_code in (401, 404)
        assert c.get("/api/downloads").status_code == 401  # the private API still wants its token


def test_badges(server: BackgroundServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        users = c.get("/public/demo/badge/users-week.json").json()
        assert users == {
            "schemaVersion": 1,
            "label": "users/week",
            "message": "31",
            "color": "blue",
            "cacheSeconds": 3600,
        } or users["message"] in ("30", "32")
        installs = c.get("/public/demo/badge/installs-month.json").json()
        assert installs["message"] == "61"
        latest = c.get("/public/demo/badge/latest-adoption.json").json()
        assert (latest["label"], latest["message"]) == ("latest 2.0", "58%")  # 18 / 31
        svg = c.get("/public/demo/badge/latest-adoption.svg")
        assert svg.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(svg.text)  # noqa: S314 - our own output
        assert [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")] == ["latest 2.0", "58%"]


def test_the_release_is_made_once(site: PublicSite) -> None:
    first = site.release("demo")
    files = list(site.cache_dir.glob("demo_*.json"))
    assert len(files) == 1
    assert site.release("DEMO") == first


def test_public_only_app_without_token(site: PublicSite) -> None:
    srv = BackgroundServer(create_app(site.store, "", public=site)).start()
    try:
        with httpx.Client(base_url=srv.url) as c:
            assert c.get("/public/demo/stats.json").status_code == 200
            assert c.get("/api/downloads").status_code == 404
            assert c.get("/dashboard").status_code == 404
    finally:
        srv.stop()


def test_publish_writes_static_files(site: PublicSite, tmp_path: Path) -> None:
    written = publish(site, tmp_path)
    names = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert "demo/index.html" in names
    assert "demo/badge/users-week.svg" in names
    assert "style.css" in names
    assert json.loads((tmp_path / "demo" / "stats.json").read_text())["month"]["installs"] == 61


def test_publish_command(stores: dict[str, Path], tmp_path: Path) -> None:
    data = stores["with"].parent
    cfg = tmp_path / "pkgate.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n[public]\nprojects = ["demo"]\n')
    out = tmp_path / "site"
    result = CliRunner().invoke(cli, ["publish", str(out), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert (out / "demo" / "badge" / "installs-month.json").exists()
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n')
    result = CliRunner().invoke(cli, ["publish", str(out), "--config", str(cfg)])
    assert result.exit_code == 2
    assert "public.projects is empty" in result.output


def test_a_noisy_release_states_its_budget(stores: dict[str, Path], tmp_path: Path) -> None:
    site = PublicSite(Public(projects=["demo"], epsilon=3.0), stores["with"], tmp_path, today=lambda: TODAY)
    r = site.release("demo")
    assert r is not None
    assert r.noise is not None
    assert r.noise["epsilon_spent"] == pytest.approx(3.0)  # OpenDP's maps, summed over the 12 numbers
    assert r.noise["numbers"] == 12
    assert r.noise["scale_installs"] == pytest.approx(5 * 12 / 3.0)
    assert all(n >= r.k for n in published_numbers(r))


def test_no_store_is_503_without_a_path(tmp_path: Path) -> None:
    site = PublicSite(
        Public(projects=["demo"]), tmp_path / "none.duckdb", tmp_path / "c", today=lambda: TODAY
    )
    srv = BackgroundServer(create_app(site.store, "", public=site)).start()
    try:
        r = httpx.get(f"{srv.url}/public/demo/stats.json")
    finally:
        srv.stop()
    assert r.status_code == 503
    assert str(tmp_path) not in r.text
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize(
    ("today", "week", "month"),
    [
        ("2026-12-02", ("2026-11-23", "2026-11-29"), ("2026-11-01", "2026-11-30")),
        # a period is released one day after it ended (late events land first): not on Monday/the 1st
        ("2026-11-30", ("2026-11-16", "2026-11-22"), ("2026-10-01", "2026-10-31")),
        ("2026-12-01", ("2026-11-23", "2026-11-29"), ("2026-10-01", "2026-10-31")),
        ("2027-01-05", ("2026-12-28", "2027-01-03"), ("2026-12-01", "2026-12-31")),
    ],
)
def test_complete_periods(today: str, week: tuple[str, str], month: tuple[str, str]) -> None:
    import datetime as dt

    from pkgate.insights.public import complete_periods

    got = complete_periods(dt.date.fromisoformat(today))
    assert tuple(tuple(d.isoformat() for d in p) for p in got) == (week, month)


@given(st.lists(st.integers(0, 60), max_size=12), st.integers(2, 30))
def test_suppression_property(values: list[int], k: int) -> None:
    """Whatever the cells: nothing shown is below k, and what is withheld adds up to 0 or >= k
    unless everything is withheld (then the table shows nothing to subtract from)."""
    hide = suppress(values, k)
    shown = [v for v, h in zip(values, hide, strict=True) if not h]
    hidden = sum(v for v, h in zip(values, hide, strict=True) if h)
    assert all(v >= k for v in shown)
    assert hidden == 0 or hidden >= k or not shown


@given(st.text(max_size=40))
def test_badge_svg_is_well_formed_whatever_the_version(version: str) -> None:
    import datetime as dt

    from pkgate.insights.public import Cell, Period
    from pkgate.web.badges import badge_svg

    week = Period(start=dt.date(2026, 1, 5), end=dt.date(2026, 1, 11), unique_sources=12, installs=20,
                  by={"version": [Cell(version, 20)]}, withheld={})  # fmt: skip
    r = Release(project="p", made=TODAY, k=10, automation_excluded=True, noise=None, week=week, month=week)
    ET.fromstring(badge_svg(r, "latest-adoption"))  # noqa: S314 - parses our own output
