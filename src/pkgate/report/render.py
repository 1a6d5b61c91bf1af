"""Render rows (msgspec structs or dicts) for people (table) and programs (json, csv, parquet)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
from rich.console import Console
from rich.table import Table

from pkgate.errors import PkgateError

#: Formats that print to a stream.
FORMATS: Final = ("table", "json", "csv")
#: Formats `pkgate report` accepts (parquet needs a file).
REPORT_FORMATS: Final = (*FORMATS, "parquet")


def _as_dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else msgspec.structs.asdict(r) for r in rows]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render_rows(rows: Sequence[Any], fmt: str, title: str = "", columns: Sequence[str] = ()) -> str:
    dicts = _as_dicts(rows)
    cols = list(columns) or (list(dicts[0]) if dicts else [])
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(dicts), indent=2).decode() + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        writer.writeheader()
        writer.writerows(dicts)
        return buf.getvalue()
    table = Table(title=title or None)
    for c in cols:
        numeric = any(
            isinstance(d.get(c), int | float) and not isinstance(d.get(c), bool) for d in dicts[:50]
        )
        table.add_column(c, justify="right" if numeric else "left")
    for d in dicts:
        table.add_row(*(_cell(d.get(c)) for c in cols))
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)


def _arrow_type(annotation: Any) -> Any:
    import pyarrow as pa  # only when writing Parquet: keeps `pkgate --help` quick

    arrow = {int: pa.int64(), float: pa.float64(), bool: pa.bool_(), str: pa.string(), dt.date: pa.date32()}
    for t in getattr(annotation, "__args__", (annotation,)):
        if t in arrow:
            return arrow[t]
    return pa.string()


def write_parquet(rows: Sequence[Any], row_type: type[msgspec.Struct], output: Path) -> None:
    """Rows of one struct type as a Parquet file; the schema comes from the type, so it is the
    same with zero rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = msgspec.structs.fields(row_type)
    schema = pa.schema([pa.field(f.name, _arrow_type(f.type)) for f in fields])
    dicts = _as_dicts(rows)
    table = pa.Table.from_pylist(dicts, schema=schema)
    try:
        pq.write_table(table, str(output), compression="zstd")
    except OSError as exc:
        raise PkgateError(f"cannot write {output}: {exc}") from None
