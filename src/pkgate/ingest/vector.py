"""Plain combined-layout lines a chunk at a time, in Arrow: the ingest's fast path.

A busy log is nearly all well-formed lines of one shape, and for them Python's per-line work (a
pattern match, a `Record`, a dozen dictionary lookups) was most of a worker's time. Here one RE2
check over the chunk picks the *plain* lines, Arrow's CSV reader cuts them into fields in C
(space-delimited, `"`-quoted), and each step after that is done once per distinct value: times,
requests, statuses, agents, (day, address) pairs. The only per-line Python left is each event's id
(the same blake2b as the long way, so ids do not depend on the path a line took).

A line is plain when `CombinedParser` could not read it any other way (`PLAIN`): the nine fields
apart by single spaces, the unquoted ones printable ASCII without a quote (so `\\S+` for Python's
pattern, and no quoting for the CSV reader), the quoted ones without a quote, a line break, or a
backslash at their end (the one case where the combined parser asks its slower pattern), and nothing
after the agent. A plain line whose time, request or status the long way would reject, or whose
event `Worker.check` would refuse, is handed back too. Every line handed back, and every line of a
chunk that is not valid UTF-8, goes the long way in `work.py`: it decides what they mean, and
`tests/ingest/test_vector.py` holds the two paths equal.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from pkgate.enrich.sources import DAY_US
from pkgate.ingest.columns import ChunkColumns
from pkgate.ingest.combined import agent_text, clf_time_us, request_of, status_of
from pkgate.ingest.reader import MAX_LINE
from pkgate.ingest.record import BadLine

if TYPE_CHECKING:
    from pkgate.ingest.work import Worker

__all__ = ["PLAIN", "Plain", "plain_events"]

_UNQUOTED: Final = r"[!#-~]+"
_TIME: Final = r"\[[!#-\\^-~]+ [!#-\\^-~]+\]"  # no `]` inside, and one space: two CSV fields
_QUOTED: Final = r'"(?:[^"\r\n]*[^"\\\r\n])?"'
#: The RE2 pattern of a plain line (see the module's docstring).
PLAIN: Final = (
    f"^{_UNQUOTED} {_UNQUOTED} {_UNQUOTED} {_TIME} {_QUOTED} [0-9]{{3}} {_UNQUOTED} {_QUOTED} {_QUOTED}$"
)
_ID_BATCH: Final = 1024
_NAMES: Final = ("ip", "ident", "user", "time", "zone", "request", "status", "size", "referer", "agent")
_READ: Final = pcsv.ReadOptions(column_names=list(_NAMES), use_threads=False, block_size=1 << 30)
_PARSE: Final = pcsv.ParseOptions(delimiter=" ", quote_char='"', double_quote=False, escape_char=False)
_CONVERT: Final = pcsv.ConvertOptions(
    column_types=dict.fromkeys(_NAMES, pa.string()),
    include_columns=["ip", "time", "zone", "request", "status", "agent"],
    strings_can_be_null=False,
    quoted_strings_can_be_null=False,
)


class Plain(NamedTuple):
    """What the fast path made of a chunk: the events' columns (`ChunkColumns.add`), the number of
    the chunk's line each came from (0-based), and the lines left for the long way."""

    columns: dict[str, pa.Array]
    line: pa.Array  # int64, ascending
    rest: list[int]  # 0-based line numbers, ascending
    starts: pa.Array  # int64: each line's offset in the chunk, and one more: where the next begins
    line_count: int  # lines in the chunk


def _lines(data: bytes) -> pa.Array:
    """The chunk's lines without their `\\n` (a last line may lack it), as Arrow binary."""
    pieces = pc.split_pattern(pa.array([data], pa.large_binary()), b"\n").flatten()
    return pieces.slice(0, len(pieces) - 1) if data.endswith(b"\n") or not data else pieces


def _distinct(values: pa.Array) -> tuple[pa.Array, list[Any]]:
    """(each value's number, the distinct values in first-seen order as Python objects)."""
    encoded = values.dictionary_encode()
    return encoded.indices, encoded.dictionary.to_pylist()


def _each(numbers: pa.Array, values: list[Any], kind: pa.DataType) -> pa.Array:
    return pa.array(values, kind).take(numbers)


def _pairs(a: pa.Array, b: pa.Array, b_count: int) -> tuple[pa.Array, list[tuple[int, int]]]:
    """Numbers of the distinct (a, b) pairs of two number columns, and the pairs."""
    joined = pc.add(pc.multiply(a.cast(pa.int64()), b_count), b.cast(pa.int64()))
    numbers, keys = _distinct(joined)
    return numbers, [divmod(k, b_count) for k in keys]


def plain_events(worker: Worker, out: ChunkColumns, data: bytes, base: int, identity: bytes) -> Plain | None:
    """The events of `data`'s plain lines (`base`: the chunk's offset in its log), or None when the
    chunk must go the long way whole (it is not valid UTF-8)."""
    lines = _lines(data)
    try:
        text = lines.cast(pa.large_string())
    except pa.ArrowInvalid:
        return None
    sizes = pc.add(pc.binary_length(lines), 1)
    starts = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(sizes.cast(pa.int64()))])
    everything = Plain({}, pa.array([], pa.int64()), list(range(len(lines))), starts, len(lines))
    plain = pc.and_(pc.match_substring_regex(text, PLAIN), pc.less_equal(sizes, MAX_LINE))
    picked = pc.indices_nonzero(plain)
    if len(picked) == 0:
        return everything
    body = data if len(picked) == len(lines) else b"\n".join(lines.filter(plain).to_pylist())
    table = pcsv.read_csv(pa.BufferReader(body), _READ, _PARSE, _CONVERT)
    if table.num_rows != len(picked):  # cannot be, for lines that match PLAIN: all the long way
        return everything
    offsets = pc.add(starts.take(picked), base)
    columns, keep = _columns(worker, out, table, offsets, identity)
    line = picked.filter(keep).cast(pa.int64())
    rest = pc.indices_nonzero(pc.invert(plain)).to_pylist()
    if len(line) < len(picked):  # plain lines the long way must answer for
        rest = sorted([*rest, *picked.filter(pc.invert(keep)).to_pylist()])
    return Plain(columns, line, rest, starts, len(lines))


class _Times(NamedTuple):
    numbers: pa.Array  # each row's distinct time
    ts: list[int | None]  # per distinct time; None: its lines go the long way
    day: list[int]  # per distinct time: the number of its day in `days`
    days: list[int]


def _times(worker: Worker, fields: dict[str, pa.Array]) -> _Times:
    numbers, distinct = _distinct(pc.binary_join_element_wise(fields["time"], fields["zone"], " "))
    ts: list[int | None] = []
    day: list[int] = []
    days: dict[int, int] = {}
    for stamp in distinct:
        value: int | None = None  # the long way says why
        try:
            value = clf_time_us(stamp[1:-1])
            worker.check_time(value)
        except BadLine:
            value = None
        ts.append(value)
        day.append(days.setdefault(0 if value is None else value // DAY_US, len(days)))
    return _Times(numbers, ts, day, list(days))


class _Request(NamedTuple):
    number: int | None  # in `ChunkColumns.requests`; None: the long way says why
    text: str  # `method target status`, as the event's id hashes it
    status: int | None


def _requests(out: ChunkColumns, fields: dict[str, pa.Array]) -> tuple[pa.Array, list[_Request]]:
    """Each row's distinct (request, status), and what each distinct pair is."""
    requests, request_keys = _distinct(fields["request"])
    statuses, status_keys = _distinct(fields["status"])
    split: list[tuple[str, str] | None] = []
    for logged in request_keys:
        try:
            split.append(request_of(logged))
        except BadLine:
            split.append(None)
    codes: list[int | None] = []
    for logged in status_keys:
        try:
            codes.append(status_of(logged))
        except BadLine:
            codes.append(None)
    numbers, pairs = _pairs(requests, statuses, len(status_keys))
    made: list[_Request] = []
    for r, s in pairs:
        method_target, status = split[r], codes[s]
        if method_target is None or status is None:
            made.append(_Request(None, "", None))
        else:
            method, target = method_target
            made.append(
                _Request(out.requests.number((method, target, status)), f"{method} {target} {status}", status)
            )
    return numbers, made


def _ids(
    identity: bytes,
    offsets: pa.Array,
    ts: pa.Array,
    requests: tuple[pa.Array, pa.Array],
    agents: tuple[pa.Array, pa.Array],
) -> list[bytes]:
    """Each event's id (16 bytes), as `Worker.run` makes it: blake2b of the log's identity, the
    line's offset and `ts method target status agent`; a slice at a time (each message is a Python
    bytes)."""
    request_of_row, requests_text = requests
    agent_of_row, uas = agents
    blake2b = hashlib.blake2b
    ids: list[bytes] = []
    for at in range(0, len(ts), _ID_BATCH):
        text = pc.binary_join_element_wise(
            ts.slice(at, _ID_BATCH).cast(pa.string()),
            requests_text.take(request_of_row.slice(at, _ID_BATCH)),
            uas.take(agent_of_row.slice(at, _ID_BATCH)),
            " ",
        )
        ids += [
            blake2b(identity + offset.to_bytes(8, "little") + message, digest_size=16).digest()
            for offset, message in zip(
                offsets.slice(at, _ID_BATCH).to_pylist(), text.cast(pa.binary()).to_pylist(), strict=True
            )
        ]
    return ids


def _columns(
    worker: Worker, out: ChunkColumns, table: pa.Table, offsets: pa.Array, identity: bytes
) -> tuple[dict[str, pa.Array], pa.Array]:
    """The event columns of the CSV's rows (lines at `offsets` in the log), and which of the rows
    make them."""
    fields = {name: table.column(name).combine_chunks() for name in table.column_names}
    times = _times(worker, fields)
    pairs, made = _requests(out, fields)
    ts = _each(times.numbers, times.ts, pa.int64())
    request_no = _each(pairs, [m.number for m in made], pa.int32())
    keep = pc.and_(pc.is_valid(ts), pc.is_valid(request_no))
    if not pc.all(keep).as_py():
        fields = {name: column.filter(keep) for name, column in fields.items()}
        ts, request_no, offsets = ts.filter(keep), request_no.filter(keep), offsets.filter(keep)
        pairs, day_of = pairs.filter(keep), times.numbers.filter(keep)
    else:
        day_of = times.numbers

    ips, ip_keys = _distinct(fields["ip"])
    facts, ip_days = _pairs(ips, _each(day_of, times.day, pa.int32()), len(times.days))
    fact_no = [out.facts.number((times.days[d], ip_keys[i], None)) for i, d in ip_days]
    agents, agent_keys = _distinct(fields["agent"])
    uas = [agent_text(a) for a in agent_keys]
    agent_no = [out.agents.number(ua) for ua in uas]

    texts = pa.array([m.text for m in made], pa.string())
    ids = _ids(identity, offsets, ts, (pairs, texts), (agents, pa.array(uas, pa.string())))
    status = _each(pairs, [m.status for m in made], pa.int16())
    n = len(ids)
    columns = {
        "ids": pa.array(ids, pa.uuid()),
        "ts": ts,
        "request_no": request_no,
        "fact_no": _each(facts, fact_no, pa.int32()),
        "agent_no": _each(agents, agent_no, pa.int32()),
        "duration_us": pa.repeat(pa.scalar(0, pa.int32()), n),
        "conditional": pc.equal(status, 304),
        "partial": pc.equal(status, 206),
        "command": pa.nulls(n, pa.string()),
    }
    return columns, keep
