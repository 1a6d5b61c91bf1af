"""The ingest's shortcuts answer exactly as the long way does.

- `ChunkColumns` (distinct parts numbered, then Arrow `take`s) makes the same table as one `Event`
  per line through the loader's own `to_rows`, which is how the gateway's events are stored.
- `clf_time_us` with a cached minute gives what a fresh parse gives, and what `datetime` gives.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.enrich.ua import parse_cached
from pkgate.events import Event
from pkgate.ingest import combined
from pkgate.ingest.columns import AGENT_FIELDS, FACT_FIELDS, REQUEST_FIELDS, ChunkColumns
from pkgate.ingest.record import BadLine
from pkgate.store.rows import to_rows
from tests.support.rows import joined

REQUESTS = [
    ("GET", "/simple/a/", "index-project", 200, "a", None, None, "python", None, None),
    (
        "GET",
        "/packages/x/a-1.0-py3-none-any.whl",
        "file",
        302,
        "a",
        "1.0",
        "a-1.0-py3-none-any.whl",
        "python",
        None,
        None,
    ),
    (
        "HEAD",
        "/v2/lib/app/manifests/sha256:ab",
        "manifest",
        200,
        "lib/app",
        None,
        None,
        "oci",
        "linux/arm64",
        "sha256:ab",
    ),
    ("POST", "/npm/left-pad", "other", 405, "left-pad", None, None, "npm", None, None),
]
FACTS = [
    ("s1", "n1", "DE", 3320, "Deutsche Telekom AG", None),
    ("s2", "n2", None, None, None, "aws"),
    ("s3", "n2", "US", 4_200_000_000, "Example", None),
]
AGENTS = [
    "",
    'pip/24.0 {"ci":true,"cpu":"x86_64","installer":{"name":"pip","version":"24.0"},"python":"3.12.1"}',
    "npm/10.2.4 node/v20.11.0 linux x64 workspaces/false ci/github-actions",
    "curl/8.5.0",
]

line = st.tuples(
    st.integers(0, len(REQUESTS) - 1),
    st.integers(0, len(FACTS) - 1),
    st.integers(0, len(AGENTS) - 1),
    st.integers(0, 2**31 - 1),
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.sampled_from(["ci", "install"])),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(line, min_size=1, max_size=40), st.integers(0, 2**40))
def test_chunk_columns_make_the_loader_table(lines: list[tuple[Any, ...]], t0: int) -> None:
    constants = {"gateway": "gw-1", "origin": "log:test", "upstream": None, "cache": None, "failover": False}
    out = ChunkColumns(lambda k: REQUESTS[k[2]], lambda k: FACTS[k[0]], constants)
    events = []
    for i, (r, f, a, duration, conditional, partial, command) in enumerate(lines):
        ident = f"{i:032x}"
        out.ids.append(bytes.fromhex(ident))
        out.ts.append(t0 + i)
        out.request_no.append(out.requests.number(("GET", "/", r)))
        out.fact_no.append(out.facts.number((f, "ip", None)))
        out.agent_no.append(out.agents.number(AGENTS[a]))
        out.line["duration_us"].append(duration)
        out.line["conditional"].append(conditional)
        out.line["partial"].append(partial)
        out.line["command"].append(command)
        fields = dict(zip(REQUEST_FIELDS, REQUESTS[r], strict=True))
        fields.update(zip(FACT_FIELDS, FACTS[f], strict=True))
        events.append(
            Event(
                id=ident,
                ts_us=t0 + i,
                gateway="gw-1",
                origin="log:test",
                user_agent=AGENTS[a],
                duration_us=duration,
                conditional=conditional,
                partial=partial,
                command=command,
                **fields,
            )
        )
    got, want = out.table(), to_rows(events)
    # The ids are the UUIDs the loader's text ids are cast to as they are stored.
    assert [u.hex for u in got.events.column("id").to_pylist()] == want.events.column("id").to_pylist()
    got_rest, want_rest = got.events.drop_columns(["id"]), want.events.drop_columns(["id"])
    # Text may come as dictionaries; the values are equal.
    assert got_rest.cast(want_rest.schema).equals(want_rest)
    assert got_rest.to_pylist() == want_rest.to_pylist()
    assert got.agents.sort_by("agent").equals(want.agents.sort_by("agent"))
    assert got.agents.num_rows == len({a for _, _, a, *_ in lines})
    # The agent part really is the parsed agent (the loader's parse, not a copy of this test's).
    assert "installer" in AGENT_FIELDS
    row = joined(got)[0]
    assert row["installer"] == parse_cached(row["user_agent"]).installer


months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(dt.datetime(1971, 1, 1), dt.datetime(2200, 1, 1)),
    st.integers(-14 * 60, 14 * 60).map(lambda m: m - m % 15),
    st.integers(0, 59),
    st.text(alphabet="0123456789 +-:x/", min_size=2, max_size=2),
)
def test_clf_time_cached_minute_agrees(when: dt.datetime, zone_min: int, other_ss: int, junk: str) -> None:
    sign = "+" if zone_min >= 0 else "-"
    zone = f"{sign}{abs(zone_min) // 60:02d}{abs(zone_min) % 60:02d}"
    stamp = f"{when.day:02d}/{months[when.month - 1]}/{when.year:04d}:{when:%H:%M:%S} {zone}"
    tz = dt.timezone(dt.timedelta(minutes=zone_min))
    expected = int(when.replace(tzinfo=tz).timestamp()) * 1_000_000
    combined.clear_time_caches()
    assert combined.clf_time_us(stamp) == expected  # the long way, and the minute is now cached
    sibling = stamp[:18] + f"{other_ss:02d}" + stamp[20:]
    assert combined.clf_time_us(sibling) == expected + (other_ss - when.second) * 1_000_000
    # Whatever sits where the seconds go, the cached minute answers as a fresh parse does.
    odd = stamp[:18] + junk + stamp[20:]
    results: list[int | str] = []
    for clear in (False, True):
        if clear:
            combined.clear_time_caches()
        try:
            results.append(combined.clf_time_us(odd))
        except BadLine as exc:
            results.append(exc.reason)
    assert results[0] == results[1]
