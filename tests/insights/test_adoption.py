"""adoption / first_seen: version shares per period and first days."""

from __future__ import annotations

import datetime as dt

import pytest

from pkgate.errors import PkgateError
from pkgate.insights import Query, adoption, first_seen
from tests.insights.data import ALL, D1, D2, D3, MODES, build

D3_START = dt.datetime(D3.year, D3.month, D3.day, tzinfo=dt.UTC)


@pytest.mark.parametrize("mode", MODES)
def test_shares(mode: str) -> None:
    django = Query(since=ALL.since, until=ALL.until, project="django")
    days = {(r.period, r.version): r for r in adoption(build(mode), django)}
    assert days[(D1, "4.0.3")].share == round(2 / 3, 4)
    assert days[(D1, "4.0.0")].share == round(1 / 3, 4)
    assert days[(D2, "4.0.3")].share == 1.0
    weeks = {(r.period, r.version): r.downloads for r in adoption(build(mode), django, "week")}
    assert weeks == {(D1, "4.0.3"): 3, (D1, "4.0.0"): 1, (D3, "4.0.3"): 30}
    with pytest.raises(PkgateError):
        adoption(build(mode), django, "month")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", MODES)
def test_first_seen_ignores_since(mode: str) -> None:
    later = Query(since=D3_START, until=ALL.until)
    rows = {(r.project, r.version): r for r in first_seen(build(mode), later)}
    assert rows[("django", "4.0.3")].first_seen == D1
    assert rows[("django", "4.0.3")].lag_days == 0
    assert rows[("six", "1.16.0")].first_download == D1
