"""Recorder: request facts -> Event, with the address turned into ids and dropped."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

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
    kw: dict[str, Any] = dict(ts_us=now_us(), duration_us=1, method="GET", path="/", kind="other", status=404)
    a = rec.build(headers={}, peer="203.0.113.9", **kw)
    b = rec.build(headers={"x-forwarded-for": "203.0.113.9"}, peer="10.1.2.3", **kw)
    c = rec.build(headers={"x-forwarded-for": "203.0.113.9"}, peer="198.51.100.1", **kw)
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


LINK: dict[str, Any] = dict(
    path="/files/six/six-1.16.0-py2.py3-none-any.whl",
    kind="file",
    status=302,
    project="six",
    version="1.16.0",
    filename="six-1.16.0-py2.py3-none-any.whl",
    upstream="pypi",
    ecosystem="python",
)
DAY_NS = 86_400 * 10**9
NOW_NS = 20_000 * DAY_NS + 3_600 * 10**9
#: (method, headers, peer, clock in ns): everything a request of a known link may vary in.
REQUESTS = [
    ("GET", {"user-agent": "pip/24.0"}, "203.0.113.9", NOW_NS),
    ("HEAD", {"user-agent": "pip/24.0"}, "203.0.113.9", NOW_NS + 1_000),
    ("GET", {"user-agent": "curl/8 (10.1.2.3)", "range": "bytes=-8192"}, "203.0.113.9", NOW_NS + 2_000),
    ("GET", {"user-agent": "u" * 5000}, "2001:db8::7", NOW_NS + 3_000),
    ("GET", {}, "198.51.100.1", NOW_NS + 4_000),
    ("GET", {"user-agent": "npm/11.0.0", "npm-command": "ci"}, "198.51.100.1", NOW_NS + 5_000),
    ("GET", {"user-agent": "uv/0.4.0", "x-forwarded-for": "192.0.2.5"}, "10.9.8.7", NOW_NS + DAY_NS),
]


async def test_templated_events_equal_built_ones(tmp_path: Path) -> None:
    """The hot path (a link's pre-encoded template + per-request fields) spools exactly the event
    the general builder makes for the same request, answered from memory (duration 0)."""
    for trusted in ([], ["10.0.0.0/8"]):
        spool = tmp_path / f"spool-{len(trusted)}"
        rec = Recorder(
            "gw1", GroupCommitter(SegmentWriter(spool, "t"), "off"), Enricher(tmp_path), ClientIP(trusted)
        )
        first = rec.build(
            ts_us=NOW_NS // 1000, duration_us=17, method="GET", headers={}, peer="192.0.2.1", **LINK
        )
        template = rec.template(first)
        for method, headers, peer, now_ns in REQUESTS:
            await asyncio.wait_for(rec.record_known(template, now_ns, method, headers, peer), 5)
        got = [decode(p) for _, p in iter_all(spool)]
        assert len(got) == len(REQUESTS)
        for event, (method, headers, peer, now_ns) in zip(got, REQUESTS, strict=True):
            expected = rec.build(
                ts_us=now_ns // 1000, duration_us=0, method=method, headers=headers, peer=peer, **LINK
            )
            assert int(event.id, 16) >> 80 == now_ns // 1_000_000  # the id's time is the request's
            assert event == msgspec.structs.replace(expected, id=event.id)
        assert len({e.id for e in got}) == len(got)
        assert got[2].user_agent == "curl/8 ([ip])"
        assert got[2].partial
        assert got[6].source_id != got[0].source_id
        assert [e.command for e in got] == [None] * 5 + ["ci", None]  # per request, not the link's
        # through a trusted proxy the forwarded client counts, else the peer
        direct = rec.build(
            ts_us=(NOW_NS + DAY_NS) // 1000, duration_us=0, method="GET", headers={}, peer="10.9.8.7", **LINK
        )
        assert (got[6].source_id == direct.source_id) is (not trusted)
