"""A chunk's events as the store's Arrow rows, built column-wise from a few distinct values.

A log repeats itself: a million lines hold a few thousand distinct requests, a few hundred agents
and tens of thousands of addresses. So a line costs a few dictionary lookups here: each distinct
request (method, target, status), agent and (day, address) is turned into its part of the event
once per chunk (and its expensive work, classifying, enriching, parsing the agent, is cached across
chunks by the worker), and the table is then made by Arrow `take`s in C. Building one `Event` per
line and transposing them cost about three times as much (bench/README.md, ingest).

The parts mean exactly what the gateway records (`pkgate.events.Event`, `store.rows.to_table`):
`tests/ingest/test_columns.py` holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Final, Generic, TypeVar

import pyarrow as pa

from pkgate.enrich.geo import SourceFacts
from pkgate.enrich.redact import redact_ua
from pkgate.events.model import MAX_UA
from pkgate.store.rows import AGENT_SCHEMA, ROW_SCHEMA, Rows, agent_row, agent_table

__all__ = ["AGENT_FIELDS", "FACT_FIELDS", "LINE_FIELDS", "REQUEST_FIELDS", "ChunkColumns", "Dimension"]

K = TypeVar("K", bound=Hashable)

#: The event columns that depend only on the request line (method, target, status).
REQUEST_FIELDS: Final = (
    "method",
    "path",
    "kind",
    "status",
    "project",
    "version",
    "filename",
    "ecosystem",
    "platform",
    "digest",
)
#: ... only on the client address and the day.
FACT_FIELDS: Final = SourceFacts.__struct_fields__
#: ... only on the User-Agent: the stored (redacted) one's `agents` row, whose id each event holds.
AGENT_FIELDS: Final = tuple(AGENT_SCHEMA.names)
#: Per line: everything else the gateway's event carries for a logged request.
LINE_FIELDS: Final = ("duration_us", "conditional", "partial", "command")


class Dimension(Generic[K]):
    """The distinct values of one part of the events of a chunk, numbered in first-seen order."""

    __slots__ = ("index", "make", "rows")

    def __init__(self, make: Callable[[K], tuple[Any, ...]]) -> None:
        self.index: dict[K, int] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.make = make

    def number(self, key: K) -> int:
        i = self.index.get(key)
        if i is None:
            i = self.index[key] = len(self.rows)
            self.rows.append(self.make(key))
        return i

    def picks(self, numbers: list[int], more: list[pa.Array]) -> pa.Array:
        """`numbers`, then those in `more`, as Arrow, 16-bit when they fit: every text column of the
        dimension repeats them in the table handed to the main process, which DuckDB keeps until
        its commit."""
        kind = pa.int16() if len(self.rows) <= 0x7FFF else pa.int32()
        return pa.concat_arrays([pa.array(numbers, kind), *(m.cast(kind) for m in more)])

    def columns(self, names: tuple[str, ...], picks: pa.Array) -> dict[str, pa.Array]:
        """Each of `names` for every line, by the numbers in `picks`: text as Arrow dictionaries
        (the distinct values once, and the numbers), so a chunk's table is a third of the bytes
        to send to the main process; DuckDB reads them as plain text."""
        out: dict[str, pa.Array] = {}
        for name, values in zip(names, zip(*self.rows, strict=True), strict=True):
            kind = ROW_SCHEMA.field(name).type
            distinct = pa.array(values, kind)
            if kind == pa.string():
                out[name] = pa.DictionaryArray.from_arrays(picks, distinct)
            else:
                out[name] = distinct.take(picks)
        return out


class ChunkColumns:
    """A chunk's events: the worker appends each line's numbers and values to these lists (its
    inner loop, kept flat on purpose), and `table` makes the Arrow table of them."""

    def __init__(
        self,
        request: Callable[[tuple[str, str, int]], tuple[Any, ...]],
        facts: Callable[[tuple[int, str, str | None]], tuple[Any, ...]],
        constants: dict[str, Any],
    ) -> None:
        self.requests: Dimension[tuple[str, str, int]] = Dimension(request)
        self.facts: Dimension[tuple[int, str, str | None]] = Dimension(facts)
        self.agents: Dimension[str] = Dimension(_agent)
        self.constants = constants
        self.ids: list[bytes] = []  # 16 bytes: the event's UUID (stored as it is, no text to parse)
        self.ts: list[int] = []
        self.request_no: list[int] = []
        self.fact_no: list[int] = []
        self.agent_no: list[int] = []
        self.line: dict[str, list[Any]] = {name: [] for name in LINE_FIELDS}
        self.parts: list[dict[str, pa.Array]] = []

    def add(self, columns: dict[str, pa.Array]) -> None:
        """Lines made elsewhere as whole columns (`vector.py`): `ids`, `ts` (epoch µs), the three
        dimensions' numbers (`request_no`, `fact_no`, `agent_no`) and each of `LINE_FIELDS`."""
        if len(columns["ids"]):
            self.parts.append(columns)

    def __len__(self) -> int:
        return len(self.ids) + sum(len(part["ids"]) for part in self.parts)

    def _column(self, values: list[Any], name: str, kind: pa.DataType) -> pa.Array:
        return pa.concat_arrays([pa.array(values, kind), *(p[name].cast(kind) for p in self.parts)])

    def table(self) -> Rows:
        n = len(self)
        data: dict[str, pa.Array] = {
            "id": self._column(self.ids, "ids", pa.uuid()),
            "ts": self._column(self.ts, "ts", ROW_SCHEMA.field("ts").type),
        }
        for dimension, numbers, name, fields in (
            (self.requests, self.request_no, "request_no", REQUEST_FIELDS),
            (self.facts, self.fact_no, "fact_no", FACT_FIELDS),
        ):
            picks = dimension.picks(numbers, [p[name] for p in self.parts])
            data.update(dimension.columns(fields, picks))
        agents = agent_table(self.agents.rows)
        picks = self.agents.picks(self.agent_no, [p["agent_no"] for p in self.parts])
        data["agent"] = agents.column("agent").combine_chunks().take(picks)
        for name, values in self.line.items():
            data[name] = self._column(values, name, ROW_SCHEMA.field(name).type)
        for name, value in self.constants.items():
            field = ROW_SCHEMA.field(name)
            data[name] = (
                pa.nulls(n, field.type) if value is None else pa.repeat(pa.scalar(value, field.type), n)
            )
        events = pa.Table.from_arrays([data[name] for name in ROW_SCHEMA.names], names=ROW_SCHEMA.names)
        return Rows(events, agents)


def _agent(logged: str) -> tuple[Any, ...]:
    """The `agents` row of the stored User-Agent (cut and redacted as the gateway does); cached
    (bounded) across chunks, as a log has few agents."""
    hit = _agents.get(logged)
    if hit is None:
        hit = agent_row(redact_ua(logged[:MAX_UA]))
        if len(_agents) >= _AGENTS_MAX:
            _agents.clear()
        _agents[logged] = hit
    return hit


_agents: dict[str, tuple[Any, ...]] = {}
_AGENTS_MAX: Final = 4096
