"""Render rows (msgspec structs or dicts) for people (table) and programs (json, csv, parquet)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import duckdb
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


_SQL_TYPES: Final[dict[Any, str]] = {
    int: "BIGINT",
    float: "DOUBLE",
    bool: "BOOLEAN",
    str: "VARCHAR",
    dt.date: "DATE",
}


def _sql_type(annotation: Any) -> str:
    for t in getattr(annotation, "__args__", (annotation,)):
        if t in _SQL_TYPES:
            return _SQL_TYPES[t]
    return "VARCHAR"


def write_parquet(rows: Sequence[Any], row_type: type[msgspec.Struct], output: Path) -> None:
    """Rows of one struct type as a Parquet file; the schema comes from the type, so it is the
    same with zero rows. DuckDB writes it (as for `pkgate export`), reading the rows as JSON:
    its row-by-row inserts are far slower, and it needs no other Parquet library."""
    fields = msgspec.structs.fields(row_type)
    columns = "{" + ", ".join(f"'{f.name}': '{_sql_type(f.type)}'" for f in fields) + "}"
    con = duckdb.connect()
    try:
        with tempfile.TemporaryDirectory(prefix="pkgate-report-") as scratch:
            rows_json = Path(scratch) / "rows.json"
            rows_json.write_bytes(msgspec.json.encode(_as_dicts(rows)))
            rel = con.sql(
                f"SELECT * FROM read_json(?, format = 'array', columns = {columns})",  # noqa: S608 - names of a struct type
                params=[str(rows_json)],
            )
            rel.write_parquet(str(output), compression="zstd")
    except (duckdb.IOException, OSError) as exc:
        raise PkgateError(f"cannot write {output}: {exc}") from None
    finally:
        con.close()
