"""downloads / downloads_daily: hand-counted, identical from raw events, rollups or a mix."""

from __future__ import annotations

import datetime as dt

import pytest

from pkgate.insights import Query, downloads, downloads_daily
from tests.insights.data import ALL, D1, D2, D3, MODES, build


@pytest.mark.parametrize("mode", MODES)
def test_downloads_totals(mode: str) -> None:
    rows = {(r.project, r.version): r for r in downloads(build(mode), ALL)}
    assert set(rows) == {("django", None), ("django", "4.0.0"), ("django", "4.0.3"), ("six", "1.16.0")}
    v = rows[("django", "4.0.3")]
    assert (v.downloads, v.head, v.metadata, v.sources) == (33, 1, 1, 4)
    p = rows[("django", None)]
    assert (p.index_hits, p.not_modified, p.failed, p.downloads, p.sources) == (2, 1, 1, 0, 4)
    assert rows[("six", "1.16.0")].downloads == 1


@pytest.mark.parametrize("mode", MODES)
def test_daily_series_and_project_filter(mode: str) -> None:
    q = Query(since=ALL.since, until=ALL.until, project="django")
    rows = {(r.day, r.version): r for r in downloads_daily(build(mode), q)}
    assert {r[0] for r in rows} == {D1, D2, D3}
    assert rows[(D1, "4.0.3")].downloads == 2
    assert rows[(D2, "4.0.3")].downloads == 1
    assert rows[(D2, None)].not_modified == 1
    assert rows[(D3, "4.0.3")].downloads == 30
    assert all(r.project == "django" for r in downloads_daily(build(mode), q))


@pytest.mark.parametrize("mode", MODES)
def test_partial_days_come_from_raw_events(mode: str) -> None:
    # 10:30 on day 1 to 09:00:01 on day 2 (exclusive): B, C, and D's 304 only.
    q = Query(
        since=dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.UTC),
        until=dt.datetime(2026, 3, 3, 9, 0, 1, tzinfo=dt.UTC),
    )
    rows = {(r.project, r.version): r for r in downloads(build(mode), q)}
    assert rows[("django", "4.0.3")].downloads == 1
    assert rows[("django", None)].not_modified == 1
    assert rows[("django", None)].index_hits == 1
    assert downloads(build(mode), Query(since=ALL.until, until=ALL.since)) == []
