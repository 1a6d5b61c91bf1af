"""Query helpers: whole UTC days."""

from __future__ import annotations

import datetime as dt

from pkgate.insights import Query


def test_whole_days() -> None:
    q = Query.whole_days(30, "six", today=dt.date(2026, 3, 31))
    assert q.since == dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert q.until == dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert q.project == "six"
    assert Query.whole_days(0, today=dt.date(2026, 3, 31)).since == dt.datetime(2026, 3, 31, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    assert Query.whole_days(1).since <= now < Query.whole_days(1).until
