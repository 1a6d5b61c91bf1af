from __future__ import annotations

import collections
import urllib.request
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.demo.traffic import DAY_US, MIRROR_UA, RESOLVE_STEP_US, Visit, by_day, closure, plan, user_agent
from pkgate.demo.upstream import StaticUpstream, build_index, read_dists
from pkgate.enrich.ua import parse_cached
from pkgate.store.aggregates import SESSION_GAP_S

PROJECTS = {"six": ["1.15.0", "1.16.0"], "flask": ["3.0.0"], "tomli": ["2.0.1"]}
START = 20_000 * DAY_US


def test_plan_is_ordered_deterministic_and_has_every_client() -> None:
    visits = plan(PROJECTS, START, 3, START + 3 * DAY_US)
    assert visits == plan(PROJECTS, START, 3, START + 3 * DAY_US)
    assert [v.ts_us for v in visits] == sorted(v.ts_us for v in visits)
    kinds = {v.client.split("-")[0] for v in visits}
    assert kinds == {"prod", "ci", "dev", "mirror", "bot", "one", "aggressive"}
    assert sum(v.client == "aggressive" for v in visits) == 360
    prod = [v for v in visits if v.client == "prod"]
    assert sum(v.revalidate for v in prod) == len(prod) - 3  # one fresh download a day, then 304s


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(0, 5 * DAY_US))
def test_plan_never_goes_past_now(days: int, elapsed: int) -> None:
    now = START + elapsed
    visits = plan(PROJECTS, START, days, now)
    assert all(START <= v.ts_us <= now for v in visits)
    # The aggressive loop is always there, in the past (a one-day demo in the morning included).
    assert sum(v.client == "aggressive" for v in visits) == 360
    assert all(v.project in PROJECTS for v in visits)
    grouped = by_day(visits)
    assert sum(map(len, grouped)) == len(visits)
    assert all(len({v.ts_us // DAY_US for v in g}) == 1 for g in grouped)


@pytest.mark.parametrize("elapsed", [0, 60_000_000, 2 * 3_600_000_000 + 17])
def test_a_one_day_plan_before_three_has_the_mirror_download_every_project(elapsed: int) -> None:
    """The mirror comes at 03:00; a one-day demo started earlier still downloads every project."""
    visits = plan(PROJECTS, START, 1, START + elapsed)
    mirror = [v for v in visits if v.client == "mirror"]
    assert sorted(v.project for v in mirror) == sorted(PROJECTS)
    assert all(START <= v.ts_us <= START + elapsed and v.all_files for v in mirror)


#: flask -> werkzeug -> markupsafe (not served: left out), six alone; tomli -> flask (a chain).
REQUIRES = {"flask": ["werkzeug", "markupsafe"], "werkzeug": ["markupsafe"], "tomli": ["flask", "six"]}
SERVED = {**PROJECTS, "werkzeug": ["3.0.3"]}


def test_closure_follows_chains_once() -> None:
    assert closure("tomli", REQUIRES) == ["flask", "six", "werkzeug", "markupsafe"]
    assert closure("six", REQUIRES) == []
    assert closure("a", {"a": ["b"], "b": ["a", "c"], "c": ["b"]}) == ["b", "c"]  # a cycle ends


def test_installs_fetch_what_they_require_in_the_same_session() -> None:
    """Every developer or one-off visit of a project is followed, a resolver's step apart, by its
    served requirements (newest version, fresh); the rest of the plan is what it was without."""
    start, now = START, START + 3 * DAY_US
    plain = plan(SERVED, start, 3, now)
    resolved = plan(SERVED, start, 3, now, requires=REQUIRES)
    roots = [v for v in resolved if v.client.startswith(("dev", "one-off"))]
    pulled: list[Visit] = []
    for root in plain:
        if not root.client.startswith(("dev", "one-off")):
            continue
        deps = {"flask": ["werkzeug"], "tomli": ["flask", "six", "werkzeug"]}.get(root.project, [])
        for k, dep in enumerate(deps, start=1):
            v = root._replace(
                ts_us=root.ts_us + k * RESOLVE_STEP_US, project=dep, version=None, revalidate=False
            )
            assert v in roots, (root, dep)
            pulled.append(v)
    assert len(pulled) > 20
    assert collections.Counter(resolved) == collections.Counter([*plain, *pulled])
    assert 3 * RESOLVE_STEP_US < SESSION_GAP_S * 1_000_000  # a chain of three stays one session
    # without requirements among the served projects, nothing changes
    assert plan(SERVED, start, 3, now, requires={"six": ["numpy"]}) == plain


def test_user_agents_parse_as_intended() -> None:
    ua = parse_cached(user_agent("uv", "0.4.18", "3.12.2", "macos"))
    assert (ua.installer, ua.python, ua.system, ua.cpu) == ("uv", "3.12.2", "Darwin", "arm64")
    ua = parse_cached(user_agent("pip", "24.0", "3.11.8", "ubuntu", ci=True))
    assert (ua.installer, ua.distro, ua.ci) == ("pip", "Ubuntu", True)
    assert parse_cached(user_agent("pip", "24.0", "3.11.8", "windows")).system == "Windows"
    assert parse_cached(MIRROR_UA).installer == "bandersnatch"


def test_static_upstream_serves_pages_files_and_304(tmp_path: Path) -> None:
    wheels = Path(__file__).resolve().parents[2] / ".cache" / "test-dists"
    dists = read_dists(wheels) if wheels.is_dir() else []
    if not dists:  # build one tiny real wheel
        import zipfile

        whl = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(whl, "w") as zf:
            zf.writestr(
                "demo_pkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\n"
            )
        dists = read_dists(tmp_path)
    names = list(build_index(dists, tmp_path / "root"))
    up = StaticUpstream(tmp_path / "root").start()
    try:
        req = urllib.request.Request(
            f"{up.simple_url}{names[0]}/", headers={"accept": "application/vnd.pypi.simple.v1+json"}
        )
        with urllib.request.urlopen(req) as resp:
            assert resp.headers["content-type"] == "application/vnd.pypi.simple.v1+json"
            etag = resp.headers["etag"]
            body = resp.read()
        assert b'"files"' in body
        req.add_header("if-none-match", etag)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req)
        info.value.close()
        assert info.value.code == 304
        file_url = up.simple_url.replace("/simple/", f"/files/{dists[0].filename}")
        with urllib.request.urlopen(file_url) as resp:
            assert resp.read() == dists[0].path.read_bytes()
    finally:
        up.stop()
