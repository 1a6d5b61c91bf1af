"""breakdown: per value of a whitelisted dimension, overall and per day."""

from __future__ import annotations

import pytest

from pkgate.errors import PkgateError
from pkgate.insights import DIMENSIONS, Query, breakdown
from tests.insights.data import ALL, D1, MODES, build


@pytest.mark.parametrize("mode", MODES)
def test_installer_and_country(mode: str) -> None:
    con = build(mode)
    rows = {r.value: r for r in breakdown(con, ALL, "installer")}
    assert (rows["requests"].downloads, rows["pip"].downloads, rows["uv"].downloads) == (30, 4, 1)
    assert rows["pip"].sources == 3  # a, c on day 1 + d on day 2
    assert rows["pip"].requests == 8  # a 3, c 3, d 2
    assert rows["requests"].share == round(30 / 35, 4)
    countries = {r.value: r.downloads for r in breakdown(con, ALL, "country")}
    assert countries == {"US": 31, "DE": 3, "FR": 1}
    py = {r.value: r.downloads for r in breakdown(con, ALL, "python")}
    assert py == {"3.12": 4, None: 31}


@pytest.mark.parametrize("mode", MODES)
def test_over_time_and_project(mode: str) -> None:
    django = Query(since=ALL.since, until=ALL.until, project="django")
    rows = breakdown(build(mode), django, "version", over_time=True)
    day1 = {r.value: r for r in rows if r.day == D1}
    assert day1["4.0.3"].downloads == 2
    assert day1["4.0.0"].share == round(1 / 3, 4)
    assert day1[None].requests == 3  # two index pages and the 404
    assert day1[None].downloads == 0
    ci = {r.value: r.downloads for r in breakdown(build(mode), django, "ci")}
    assert ci == {"false": 34}


def test_every_dimension_runs_and_unknown_is_refused() -> None:
    con = build("mixed")
    for dim in DIMENSIONS:
        assert sum(r.requests for r in breakdown(con, ALL, dim)) == 41
    with pytest.raises(PkgateError, match="unknown dimension"):
        breakdown(con, ALL, "path; DROP TABLE events")
