"""The combined layout's fast path (`vector.py`) answers exactly as the long way, line by line.

Each chunk goes through `Worker.run` twice: with `CombinedParser` (plain lines in Arrow, the rest
the long way) and with a parser that is not one, so that every line takes the long way. The two
must agree on everything: events (ids included), rejects by reason, the first bad line, blank
lines, where the chunk ends and, with --strict, where it stops. The lines are drawn near the plain
shape on purpose: one character off (a space, a quote, a tab, a backslash before a quote, a bad
time, status or request, a line from the future, invalid UTF-8, CRLF) must change nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pkgate.config import Config, Storage
from pkgate.events.model import now_us
from pkgate.ingest import vector
from pkgate.ingest.columns import ChunkColumns
from pkgate.ingest.combined import CombinedParser
from pkgate.ingest.reader import Chunk
from pkgate.ingest.record import Record
from pkgate.ingest.work import ChunkResult, Worker
from tests.support.rows import joined

SAMPLES = Path(__file__).parent / "samples"
IDENTITY = b"0123456789abcdef"
SECRET = b"s" * 32


class LongWay:
    """`CombinedParser`, but not one: `Worker.run` then takes every line the long way."""

    name = "combined"

    def __init__(self) -> None:
        self.parser = CombinedParser()

    def parse(self, line: str) -> Record | None:
        return self.parser.parse(line)


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Worker]:
    cfg = Config(storage=Storage(data_dir=str(tmp_path_factory.mktemp("vector") / "data")))
    started = now_us()
    return {strict: Worker(cfg, SECRET, started, strict) for strict in (False, True)}


def _summary(result: ChunkResult) -> tuple[Any, ...]:
    rows = joined(result.rows)
    return (
        rows,
        result.events,
        result.lines,
        result.blank,
        result.rejects,
        result.first_bad,
        result.end_offset,
        result.end_line,
    )


def _both(worker: Worker, data: bytes, offset: int = 1000, line: int = 7) -> tuple[Any, ...]:
    chunk = Chunk(data, offset, line)
    fast = _summary(worker.run(chunk, IDENTITY, CombinedParser(), "log:t"))
    slow = _summary(worker.run(chunk, IDENTITY, LongWay(), "log:t"))
    assert fast == slow
    return fast


def _stamp(seconds: float) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(seconds))


NOW = time.time()
PIP = (
    r"pip/24.2 {\x22ci\x22:null,\x22cpu\x22:\x22x86_64\x22,\x22installer\x22:{\x22name\x22:\x22pip\x22,"
    r"\x22version\x22:\x2224.2\x22},\x22python\x22:\x223.11.2\x22}"
)
# One character can make a field unlike the plain shape's: each of these, somewhere.
ODD = st.sampled_from([" ", '"', "\\", "\t", "\r", "]", "[", "\x0b", "\x1c", "é", "\u00a0", "٢", "-", ""])


@st.composite
def _near(draw: st.DrawFn, plain: str) -> str:
    """`plain` mostly (so that whole lines are often plain), else with one odd character put in,
    or cut to nothing."""
    how = draw(st.integers(0, 9))
    if how == 0:
        at = draw(st.integers(0, len(plain)))
        return plain[:at] + draw(ODD) + plain[at:]
    return "" if how == 1 else plain


field_ip = st.sampled_from(["203.0.113.7", "198.51.100.20", "2001:db8::1", "10.0.0.1", "::ffff:192.0.2.1"])
times = st.one_of(
    st.floats(NOW - 5 * 86_400, NOW - 60).map(_stamp),
    st.sampled_from([_stamp(NOW + 7200), "32/Dec/2026:10:00:00 +0000", "01/Foo/2026:10:00:00 +0000"]),
)
requests = st.sampled_from(
    [
        "GET /simple/requests/ HTTP/1.1",
        "GET /packages/ab/cd/requests-2.32.3-py3-none-any.whl HTTP/1.1",
        "HEAD /npm/left-pad/-/left-pad-1.3.0.tgz HTTP/2.0",
        "POST /simple/x/ HTTP/1.1",
        "GET /files/tool/1.0/tool-1.0.tar.gz?x=1 HTTP/1.1",
        "GET /simple/%E2%9C%93/",
        "\\x16\\x03\\x01",
        "GET",
    ]
)
statuses = st.sampled_from(["200", "304", "206", "302", "404", "200", "302", "099", "600", "٢٠٠"])
agents = st.sampled_from([PIP, "-", "", "curl/8.5.0", "uv/0.4.26", r"odd \"quoted\" agent", "ends in \\"])


@st.composite
def lines(draw: st.DrawFn) -> str:
    ip = draw(_near(draw(field_ip)))
    user = draw(_near("-"))
    when = draw(_near(draw(times)))
    request = draw(_near(draw(requests)))
    status = draw(_near(draw(statuses)))
    agent = draw(_near(draw(agents)))
    tail = draw(st.sampled_from(["", "", "", "", "", " 0.012", "\r"]))
    return f'{ip} - {user} [{when}] "{request}" {status} 123 "-" "{agent}"{tail}'


chunks = st.lists(
    st.one_of(lines(), lines(), lines(), st.sampled_from(["", "   ", "# header"])), min_size=1, max_size=25
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks, st.booleans(), st.booleans(), st.booleans())
def test_fast_path_answers_as_the_long_way(
    workers: dict[bool, Worker], drawn: list[str], strict: bool, final_newline: bool, bad_utf8: bool
) -> None:
    data = "\n".join(drawn).encode("utf-8", "surrogatepass")
    if bad_utf8:
        data = data.replace(b"-", b"\xff-", 1)
    _both(workers[strict], data + (b"\n" if final_newline else b""))


def test_the_fast_path_takes_plain_lines(workers: dict[bool, Worker]) -> None:
    """Not vacuous: plain lines are taken in Arrow, odd ones are left to the long way, in order."""
    plain = f'203.0.113.7 - - [{_stamp(NOW - 3600)}] "GET /simple/requests/ HTTP/1.1" 200 11 "-" "{PIP}"'
    odd = plain.replace('"-"', '"\\"-"')  # an Apache-escaped quote
    future = plain.replace(_stamp(NOW - 3600), _stamp(NOW + 7200))
    data = "\n".join([plain, odd, plain, "", future, plain]).encode() + b"\n"
    worker = workers[False]
    out = ChunkColumns(worker.request, worker.enricher.row, {})
    made = vector.plain_events(worker, out, data, 0, IDENTITY)
    assert made is not None
    assert made.line.to_pylist() == [0, 2, 5]
    assert made.rest == [1, 3, 4]
    assert len(made.columns["ids"]) == 3
    rows, events, count, blank, rejects, first_bad, end_offset, end_line = _both(worker, data, 0, 1)
    assert (events, count, blank, rejects, end_offset, end_line) == (4, 6, 1, {"future": 1}, len(data), 7)
    assert first_bad is not None
    assert first_bad.line == 5
    assert len({r["id"] for r in rows}) == 4  # the same line at another offset is another event


def test_strict_keeps_no_plain_line_after_the_first_bad_one(workers: dict[bool, Worker]) -> None:
    good = f'203.0.113.7 - - [{_stamp(NOW - 60)}] "GET /simple/a/ HTTP/1.1" 200 1 "-" "curl/8.5.0"'
    data = "\n".join([good, good, "not a log line", good]).encode() + b"\n"
    _rows, events, count, _blank, rejects, first_bad, end_offset, end_line = _both(workers[True], data, 0, 1)
    assert (events, count, rejects, end_line) == (2, 2, {"syntax": 1}, 3)
    assert end_offset == 2 * (len(good) + 1)
    assert first_bad is not None
    assert (first_bad.line, first_bad.offset) == (3, end_offset)


@pytest.mark.parametrize("name", ["nginx-combined.log", "apache-combined.log"])
def test_real_samples_agree(workers: dict[bool, Worker], name: str) -> None:
    """The samples are from 2026-12-01: today's worker takes them as they are (no line is late)."""
    rows = _both(workers[False], (SAMPLES / name).read_bytes())[0]
    assert rows
