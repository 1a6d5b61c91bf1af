"""The common filter every insight takes, so the CLI, the JSON API and the dashboard agree."""

from __future__ import annotations

import datetime as dt

import msgspec


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """Events with `since <= ts < until` (UTC), optionally of one (normalised) project."""

    since: dt.datetime
    until: dt.datetime
    project: str | None = None

    @classmethod
    def last_days(cls, days: int, project: str | None = None, now: dt.datetime | None = None) -> Query:
        end = now or dt.datetime.now(dt.UTC)
        return cls(since=end - dt.timedelta(days=days), until=end, project=project)
