"""uniques: daily distinct ids, summed over the days of a week; both levels; per version."""

from __future__ import annotations

import pytest

from pkgate.errors import PkgateError
from pkgate.insights import Query, uniques
from tests.insights.data import ALL, D1, D3, MODES, build

DJANGO = Query(since=ALL.since, until=ALL.until, project="django")


@pytest.mark.parametrize("mode", MODES)
def test_weekly_per_version_and_project(mode: str) -> None:
    rows = {(r.period, r.version): r for r in uniques(build(mode), DJANGO, "client", "week")}
    assert set(rows) == {(D1, None), (D1, "4.0.0"), (D1, "4.0.3"), (D3, None), (D3, "4.0.3")}
    total = rows[(D1, None)]  # day 1: a, b, c; day 2: d
    assert (total.sources, total.downloaders, total.downloads, total.days) == (4, 4, 4, 2)
    assert total.downloads_per_source == 1.0
    v = rows[(D1, "4.0.3")]
    assert (v.sources, v.downloaders, v.downloads, v.days) == (3, 3, 3, 2)
    assert rows[(D3, "4.0.3")].downloads_per_source == 30.0


@pytest.mark.parametrize("mode", MODES)
def test_network_level_and_gateway_total(mode: str) -> None:
    rows = {(r.period, r.project): r for r in uniques(build(mode), ALL, "network", "day")}
    assert rows[(D1, None)].sources == 2  # n1, n2 across all projects
    assert rows[(D1, "django")].sources == 2
    assert rows[(D1, "six")].sources == 1
    clients = {(r.period, r.project): r for r in uniques(build(mode), ALL, "client", "month")}
    assert clients[(D1.replace(day=1), None)].sources == 5  # 3 + 1 + 1 over three days
    assert clients[(D1.replace(day=1), None)].days == 3


def test_rejects_unknown_level() -> None:
    with pytest.raises(PkgateError, match="level"):
        uniques(build("raw"), ALL, "host", "day")  # type: ignore[arg-type]
    with pytest.raises(PkgateError, match="period"):
        uniques(build("raw"), ALL, "client", "year")  # type: ignore[arg-type]
