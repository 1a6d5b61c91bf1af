"""Week and month keys: marks agree within a period, differ across periods, and no key survives
its period (plus the one day of grace the day keys have too)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from pkgate.enrich.sources import DAY_US, HLL_P, SourceHasher, hll_mark, period_of

EPOCH = dt.date(1970, 1, 1)


def us(day: dt.date, hour: int = 12) -> int:
    return (day - EPOCH).days * DAY_US + hour * 3_600_000_000


def num(day: dt.date) -> int:
    return (day - EPOCH).days


def test_periods_are_iso_weeks_and_calendar_months() -> None:
    assert period_of("week", num(dt.date(2026, 3, 4))) == (num(dt.date(2026, 3, 2)), num(dt.date(2026, 3, 8)))
    assert period_of("week", num(dt.date(2026, 3, 2)))[0] == num(dt.date(2026, 3, 2))  # a Monday
    assert period_of("month", num(dt.date(2024, 2, 29))) == (
        num(dt.date(2024, 2, 1)),
        num(dt.date(2024, 2, 29)),
    )
    assert period_of("month", num(dt.date(2026, 12, 31))) == (
        num(dt.date(2026, 12, 1)),
        num(dt.date(2026, 12, 31)),
    )


def test_marks_link_nothing_but_the_period(tmp_path: Path) -> None:
    h = SourceHasher(tmp_path)
    mon, sun, next_mon = dt.date(2026, 3, 2), dt.date(2026, 3, 8), dt.date(2026, 3, 9)
    a = h.marks("198.51.100.7", us(mon))
    assert a == h.marks("198.51.100.7", us(sun))  # the same week and month
    b = h.marks("198.51.100.7", us(next_mon))
    assert b[:2] != a[:2]  # another week: other week marks (2**-18 chance of a collision per mark)
    assert b[2:] == a[2:]  # still March
    assert a != h.marks("198.51.100.8", us(mon))
    assert h.ids("198.51.100.7", us(mon))[0] not in {str(m) for m in a}


def test_no_period_key_survives_its_period(tmp_path: Path) -> None:
    h = SourceHasher(tmp_path)
    feb = h.marks("198.51.100.7", us(dt.date(2026, 2, 27)))  # week of Mon 02-23, February
    names = {p.name for p in tmp_path.iterdir()}
    assert {"week-2026-02-23.key", "month-2026-02-01.key"} <= names
    h.ids("192.0.2.1", us(dt.date(2026, 3, 1)))  # February ended yesterday: kept one day (clock skew)
    assert {"week-2026-02-23.key", "month-2026-02-01.key"} <= {p.name for p in tmp_path.iterdir()}
    h.ids("192.0.2.1", us(dt.date(2026, 3, 2)))  # February ended before yesterday, the week yesterday
    names = {p.name for p in tmp_path.iterdir()}
    assert "month-2026-02-01.key" not in names
    assert "week-2026-02-23.key" in names
    h.ids("192.0.2.1", us(dt.date(2026, 3, 3)))
    left = {p.name for p in tmp_path.iterdir()}
    assert not {n for n in left if n.startswith(("week-2026-02", "month-2026-02"))}
    # a late event of February cannot recreate its keys: its marks no longer match
    assert h.marks("198.51.100.7", us(dt.date(2026, 2, 27))) != feb
    assert not {p.name for p in tmp_path.iterdir()} - left
    # another process starting afresh cannot either (the keys are gone from disk)
    fresh = SourceHasher(tmp_path)
    fresh.ids("192.0.2.1", us(dt.date(2026, 3, 3)))
    assert fresh.marks("198.51.100.7", us(dt.date(2026, 2, 27))) != feb


@given(st.binary(min_size=8, max_size=8))
def test_marks_are_register_and_rank(digest: bytes) -> None:
    mark = hll_mark(digest)
    register, rank = mark >> 6, mark & 63
    assert 0 <= register < 1 << HLL_P
    assert 1 <= rank <= 64 - HLL_P + 1
    assert register == int.from_bytes(digest, "big") >> (64 - HLL_P)
