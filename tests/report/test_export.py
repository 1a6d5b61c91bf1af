"""export_events: a range (and project) of events to Parquet/CSV, ids as text, times in UTC."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pkgate.errors import PkgateError
from pkgate.insights import Query
from pkgate.report import export_events
from tests.insights.data import ALL, D1, build


def test_parquet_and_csv(tmp_path: Path) -> None:
    con = build("raw")
    n = export_events(con, ALL, "parquet", tmp_path / "all.parquet")
    assert n == 41
    table = pq.read_table(tmp_path / "all.parquet")
    assert table.num_rows == 41
    assert {"id", "ts", "source_id", "installer"} <= set(table.column_names)
    assert table.column("ts").to_pylist()[0] == dt.datetime(2026, 3, 2, 10)
    day1_six = Query(since=ALL.since, until=dt.datetime(2026, 3, 3, tzinfo=dt.UTC), project="six")
    assert export_events(con, day1_six, "csv", tmp_path / "six.csv") == 1
    rows = list(csv.DictReader((tmp_path / "six.csv").read_text().splitlines()))
    assert [(r["project"], r["version"]) for r in rows] == [("six", "1.16.0")]
    assert D1.isoformat() in rows[0]["ts"]


def test_bad_format_and_path(tmp_path: Path) -> None:
    con = build("raw")
    with pytest.raises(PkgateError, match="format"):
        export_events(con, ALL, "xlsx", tmp_path / "x")
    with pytest.raises(PkgateError, match="cannot write"):
        export_events(con, ALL, "parquet", tmp_path / "no" / "such" / "x.parquet")
