"""The common filter every insight takes, so the CLI, the JSON API and the dashboard agree."""

from __future__ import annotations

import datetime as dt

import msgspec


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """Events with `since <= ts < until` (UTC), optionally of one (normalised) project and one
    ecosystem (`python`, `npm`, ...; None: all of them).

    `all_sources` False leaves out the source-days that are mirrors, bots or CI (the reports'
    default, `pkgate.store.classes.EXCLUDED`); True, the default here, counts everyone.
    """

    since: dt.datetime
    until: dt.datetime
    project: str | None = None
    ecosystem: str | None = None
    all_sources: bool = True

    @classmethod
    def last_days(cls, days: int, project: str | None = None, now: dt.datetime | None = None) -> Query:
        end = now or dt.datetime.now(dt.UTC)
        return cls(since=end - dt.timedelta(days=days), until=end, project=project)

    @classmethod
    def whole_days(cls, days: int, project: str | None = None, today: dt.date | None = None) -> Query:
        """The last `days` UTC days including today, from midnight to midnight.

        Prefer this for dashboards: whole days are answered from the rollups, while the partial
        days at the ends of `last_days` are recomputed from raw events on every query.
        """
        last = today or dt.datetime.now(dt.UTC).date()
        first = last - dt.timedelta(days=max(days, 1) - 1)
        start = dt.datetime(first.year, first.month, first.day, tzinfo=dt.UTC)
        return cls(since=start, until=start + dt.timedelta(days=max(days, 1)), project=project)
