"""Rendering: tables, CSV and JSON of structs; Parquet schema from the row type, also with no rows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pkgate.errors import PkgateError
from pkgate.insights import BreakdownRow, UniqueRow
from pkgate.report import render_rows, write_parquet

ROWS = [
    UniqueRow(dt.date(2026, 3, 2), "django", None, 4, 3, 9, 3.0, 8, 2.667, 2, 3, 2),
    UniqueRow(dt.date(2026, 3, 9), "django", "4.0.3", 1, 1, 30, 30.0, 3, 3.0, 1, None, None),
]


def test_text_formats() -> None:
    table = render_rows(ROWS, "table", title="Uniques")
    assert "Uniques" in table
    assert "2026-03-09" in table
    assert "30" in table
    assert json.loads(render_rows(ROWS, "json"))[1]["version"] == "4.0.3"
    assert render_rows(ROWS, "csv").splitlines()[0] == (
        "period,project,version,sources,downloaders,downloads,downloads_per_source,installs,"
        "installs_per_source,days,unique_sources,unique_downloaders"
    )
    assert render_rows([], "csv", columns=["a", "b"]) == "a,b\n"


def test_parquet_roundtrip(tmp_path: Path) -> None:
    out = tmp_path / "u.parquet"
    write_parquet(ROWS, UniqueRow, out)
    table = pq.read_table(out)
    assert table.column("downloads").to_pylist() == [9, 30]
    assert table.column("period").to_pylist() == [dt.date(2026, 3, 2), dt.date(2026, 3, 9)]
    empty = tmp_path / "e.parquet"
    write_parquet([], BreakdownRow, empty)
    assert pq.read_table(empty).column_names[:3] == ["day", "dimension", "value"]
    with pytest.raises(PkgateError, match="cannot write"):
        write_parquet(ROWS, UniqueRow, tmp_path / "missing" / "x.parquet")
