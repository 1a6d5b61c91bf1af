"""extent, version_country and release_curves on the shared hand-made store (tests/insights/data.py).

By hand, django: 4.0.3 downloaded by A (DE) and B (US) on 03-02, D (FR) on 03-03, E (US) 30 times
10 minutes apart on 03-09 (30 sessions: 30 installs); 4.0.0 by C (DE) on 03-02.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from pkgate.insights.reach import extent, release_curves, version_country
from tests.insights.data import ALL, D1, D3, MODES, build


@pytest.mark.parametrize("mode", MODES)
def test_extent(mode: str) -> None:
    [row] = extent(build(mode), ALL)
    assert (row.first_day, row.last_day) == (D1, D3)
    [six] = extent(build(mode), msgspec.structs.replace(ALL, project="six"))
    assert (six.first_day, six.last_day) == (D1, D1)


@pytest.mark.parametrize("mode", MODES)
def test_version_country(mode: str) -> None:
    q = msgspec.structs.replace(ALL, project="django")
    rows = {
        (r.version, r.country): (r.sources, r.downloaders, r.downloads, r.installs)
        for r in version_country(build(mode), q)
    }
    assert rows == {
        ("4.0.3", "US"): (2, 2, 31, 31),
        ("4.0.3", "DE"): (1, 1, 1, 1),
        ("4.0.3", "FR"): (1, 1, 1, 1),
        ("4.0.0", "DE"): (1, 1, 1, 1),
    }


@pytest.mark.parametrize("mode", MODES)
def test_release_curves(mode: str) -> None:
    q = msgspec.structs.replace(ALL, project="django")
    rows = [(r.version, r.day, r.downloads, r.share) for r in release_curves(build(mode), q)]
    assert rows == [
        ("4.0.0", 0, 1, 0.3333),
        ("4.0.3", 0, 2, 0.6667),
        ("4.0.3", 1, 1, 1.0),
        ("4.0.3", 7, 30, 1.0),
    ]
    assert all(r.first_seen == D1 for r in release_curves(build(mode), q))
    short = [(r.version, r.day) for r in release_curves(build(mode), q, days=5)]
    assert short == [("4.0.0", 0), ("4.0.3", 0), ("4.0.3", 1)]
    cut = msgspec.structs.replace(q, until=dt.datetime(2026, 3, 3, tzinfo=dt.UTC))
    assert [(r.version, r.day) for r in release_curves(build(mode), cut)] == [("4.0.0", 0), ("4.0.3", 0)]
