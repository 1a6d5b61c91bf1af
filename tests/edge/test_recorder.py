"""Recorder: request facts -> Event, with the address turned into ids and dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pkgate.edge.clientip import ClientIP
from pkgate.edge.recorder import Recorder
from pkgate.enrich.geo import Enricher
from pkgate.events import decode, now_us
from pkgate.events.commit import GroupCommitter
from pkgate.events.model import MAX_UA
from pkgate.events.spool import SegmentWriter, iter_all


def make(tmp_path: Path, trusted: list[str] | None = None) -> Recorder:
    committer = GroupCommitter(SegmentWriter(tmp_path / "spool", "t"), "off")
    return Recorder("gw1", committer, Enricher(tmp_path), ClientIP(trusted or []))


def test_range_marks_partial_and_ua_is_capped(tmp_path: Path) -> None:
    rec = make(tmp_path)
    ev = rec.build(
        ts_us=now_us(),
        duration_us=5,
        method="GET",
        path="/files/x",
        kind="file",
        status=302,
        headers={"range": "bytes=-8192", "user-agent": "u" * 5000},
        peer="203.0.113.9",
    )
    assert ev.partial is True
    assert len(ev.user_agent) == MAX_UA
    plain = rec.build(
        ts_us=now_us(),
        duration_us=5,
        method="GET",
        path="/files/x",
        kind="file",
        status=302,
        headers={},
        peer="203.0.113.9",
    )
    assert plain.partial is False


def test_same_source_same_id_forwarded_only_when_trusted(tmp_path: Path) -> None:
    rec = make(tmp_path, trusted=["10.0.0.0/8"])
    kw = dict(ts_us=now_us(), duration_us=1, method="GET", path="/", kind="other", status=404)
    a = rec.build(headers={}, peer="203.0.113.9", **kw)  # type: ignore[arg-type]
    b = rec.build(headers={"x-forwarded-for": "203.0.113.9"}, peer="10.1.2.3", **kw)  # type: ignore[arg-type]
    c = rec.build(headers={"x-forwarded-for": "203.0.113.9"}, peer="198.51.100.1", **kw)  # type: ignore[arg-type]
    assert a.source_id == b.source_id
    assert c.source_id != a.source_id
    assert "203.0.113.9" not in repr(a)


async def test_record_writes_to_spool(tmp_path: Path) -> None:
    rec = make(tmp_path)
    ev = rec.build(
        ts_us=now_us(),
        duration_us=5,
        method="HEAD",
        path="/simple/x/",
        kind="index-project",
        status=200,
        headers={"if-none-match": '"x"'},
        peer="127.0.0.1",
        project="x",
    )
    await asyncio.wait_for(rec.record(ev), 5)
    assert [decode(p) for _, p in iter_all(tmp_path / "spool")] == [ev]


def test_failover_flag(tmp_path: Path) -> None:
    rec = make(tmp_path)
    ev = rec.build(
        ts_us=now_us(),
        duration_us=5,
        method="GET",
        path="/simple/x/",
        kind="index-project",
        status=200,
        headers={},
        peer="127.0.0.1",
        project="x",
        upstream="backup",
        failover=True,
    )
    assert ev.failover is True
    assert ev.upstream == "backup"
