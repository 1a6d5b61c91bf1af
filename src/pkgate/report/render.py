"""Render rows (msgspec structs or dicts) for people (table) and programs (json, csv)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

FORMATS = ("table", "json", "csv")


def _as_dicts(rows: Sequence[Any]) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else msgspec.structs.asdict(r) for r in rows]


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
        table.add_column(c, justify="right" if dicts and isinstance(dicts[0].get(c), int) else "left")
    for d in dicts:
        table.add_row(*("" if d.get(c) is None else str(d.get(c)) for c in cols))
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    console.print(table)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)
