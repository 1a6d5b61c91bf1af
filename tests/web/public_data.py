"""A synthetic store for the public stats: known people, a mirror, CI and a bot, with real HLL marks.

As of TODAY (Wednesday 2026-12-02) the last complete week is 2026-11-23..29 and the last complete
month is November 2026. Inside that week:

- 30 people (addresses 10.1.0.1..30), each installing `demo` once on Tuesday 2026-11-24: 18 of
  version 2.0 with Python 3.12, 12 of version 1.0 with Python 3.11, all on Linux, from DE (the
  first 20) and FR (10);
- one more person (10.9.9.9) from IS with Python 3.8 on Windows, version 1.0: alone in three cells;
- a bandersnatch mirror (10.2.0.1) downloading both files 50 times, a CI runner (User-Agent CI
  flag, 10.3.0.1) installing 2.0 twelve times 2 hours apart, and a bot (10.4.0.1): all excluded.

And in the month before the week, on 2026-11-10, the same 30 people install 2.0 once more.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Final

from pkgate.enrich.sources import SourceHasher
from pkgate.events import Event, new_id
from pkgate.store import connect, ensure_schema, insert_events

TODAY: Final = dt.date(2026, 12, 2)
WEEK: Final = (dt.date(2026, 11, 23), dt.date(2026, 11, 29))
MONTH: Final = (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
PEOPLE: Final = 30
LONER: Final = "10.9.9.9"


def pip_ua(python: str = "3.12.1", system: str = "Linux", ci: bool | None = None) -> str:
    data = {
        "installer": {"name": "pip", "version": "24.0"},
        "python": python,
        "implementation": {"name": "CPython", "version": python},
        "system": {"name": system, "release": "6.1"},
        "ci": ci,
    }
    return "pip/24.0 " + json.dumps(data, separators=(",", ":"))


def _at(day: dt.date, hour: int, minute: int = 0) -> int:
    t = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=dt.UTC)
    return int(t.timestamp() * 1_000_000)


class Builder:
    """Events made the way the edge makes them: ids and marks from the address, then dropped."""

    def __init__(self, keys: Path) -> None:
        self.hasher = SourceHasher(keys)
        self.events: list[Event] = []

    def download(
        self, ip: str, ts_us: int, version: str, ua: str, country: str = "DE", project: str = "demo"
    ) -> None:
        source, network = self.hasher.ids(ip, ts_us)
        filename = f"{project}-{version}-py3-none-any.whl"
        self.events.append(
            Event(
                id=new_id(), ts_us=ts_us, gateway="gw", method="GET", path=f"/files/{project}/x/{filename}",
                kind="file", status=302, duration_us=100, project=project, version=version,
                filename=filename, user_agent=ua, source_id=source, network_id=network, country=country,
                marks=self.hasher.marks(ip, ts_us),
            )
        )  # fmt: skip


def people_events(keys: Path, loner: bool = True) -> list[Event]:
    b = Builder(keys)
    early = dt.date(2026, 11, 10)
    for i in range(PEOPLE):
        b.download(f"10.1.0.{i + 1}", _at(early, 9, i), "2.0", pip_ua(), "DE" if i < 20 else "FR")
    tuesday = dt.date(2026, 11, 24)
    for i in range(PEOPLE):
        version, python = ("2.0", "3.12.1") if i < 18 else ("1.0", "3.11.4")
        b.download(f"10.1.0.{i + 1}", _at(tuesday, 9, i), version, pip_ua(python), "DE" if i < 20 else "FR")
    for n in range(50):
        for version in ("1.0", "2.0"):
            b.download(
                "10.2.0.1",
                _at(tuesday, 12, n),
                version,
                "bandersnatch/6.5.0 (cpython 3.12.1-final0, Linux x86_64)",
            )
    for n in range(12):
        b.download("10.3.0.1", _at(tuesday, 2 * n, 30), "2.0", pip_ua(ci=True), "US")
    b.download(
        "10.4.0.1",
        _at(tuesday, 13),
        "2.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "US",
    )
    if loner:
        b.download(LONER, _at(tuesday, 15), "1.0", pip_ua("3.8.10", "Windows"), "IS")
    return sorted(b.events, key=lambda e: e.ts_us)


def make_store(path: Path, loner: bool = True) -> Path:
    con = connect(path)
    try:
        ensure_schema(con)
        insert_events(con, people_events(path.parent / "keys", loner))
    finally:
        con.close()
    return path
