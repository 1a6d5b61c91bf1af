"""heavy_hitters / concentration: ranks, shares and the aggressive flag."""

from __future__ import annotations

import pytest

from pkgate.insights import Query, concentration, heavy_hitters
from tests.insights.data import ALL, D1, D3, MODES, build


@pytest.mark.parametrize("mode", MODES)
def test_top_sources(mode: str) -> None:
    rows = heavy_hitters(build(mode), ALL, k=2)
    assert [(r.rank, r.day, r.source_id, r.downloads) for r in rows] == [(1, D3, "e", 30), (2, D1, "c", 2)]
    assert rows[0].share == round(30 / 35, 4)
    assert rows[0].aggressive
    assert rows[0].max_file_downloads == 30
    assert not rows[1].aggressive


@pytest.mark.parametrize("mode", MODES)
def test_aggressive_listed_beyond_k_and_threshold(mode: str) -> None:
    con = build(mode)
    django = Query(since=ALL.since, until=ALL.until, project="django")
    rows = heavy_hitters(con, django, k=1, max_file_per_day=0)
    assert len(rows) == 5  # every downloading source downloaded some file more than 0 times
    assert rows[1].downloads == 1  # c downloaded one django file (six is another project)
    assert [r.rank for r in rows] == [1, 2, 2, 2, 2]  # ties share a rank
    assert [r.source_id for r in heavy_hitters(con, ALL, k=1, max_file_per_day=30)] == ["e"]


@pytest.mark.parametrize("mode", MODES)
def test_concentration(mode: str) -> None:
    rows = concentration(build(mode), ALL)
    assert [(r.top, r.downloads) for r in rows] == [(2, 32), (10, 35), (20, 35)]
    assert rows[0].share == round(32 / 35, 4)
    assert rows[0].sources == 5
    assert rows[0].total_downloads == 35
    empty = concentration(build(mode), Query(since=ALL.since, until=ALL.since))
    assert [(r.top, r.downloads, r.share) for r in empty] == [(2, 0, 0.0), (10, 0, 0.0), (20, 0, 0.0)]
