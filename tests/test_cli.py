"""The CLI in-process: clear errors (file and key named, exit code 2, no traceback) and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pkgate.cli import app
from pkgate.events import encode
from pkgate.events.spool import SegmentWriter, frame
from pkgate.store import Loader
from tests.events.test_spool import make_event

runner = CliRunner()


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "pkgate.toml"
    p.write_text(text + f'\n[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    return str(p)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[privacy]\ntrusted_proxies = ["10.0.0.300/8"]', "privacy.trusted_proxies"),
        ('[privacy]\nasn_db = "/nonexistent.mmdb"', "privacy.asn_db"),
        ("[server]\nport = -1", "server.port"),
        ("[server]\nworkers = 0", "server.workers"),
        ('[gateway]\nsecret = "short"', "gateway.secret"),
    ],
)
def test_serve_refuses_bad_config_clearly(tmp_path: Path, text: str, message: str) -> None:
    cfg = write(tmp_path, text)
    result = runner.invoke(app, ["serve", "--config", cfg])
    assert result.exit_code == 2
    assert f"{cfg}: {message}" in result.output
    assert "Traceback" not in result.output


def test_report_without_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--config", write(tmp_path, "")])
    assert result.exit_code == 2
    assert "no store at" in result.output


def test_report_bad_options(tmp_path: Path) -> None:
    cfg = write(tmp_path, "")
    assert "--format" in runner.invoke(app, ["report", "--config", cfg, "--format", "xml"]).output
    assert "--since" in runner.invoke(app, ["report", "--config", cfg, "--since", "yesterday"]).output


def seed(tmp_path: Path) -> str:
    cfg = write(tmp_path, "")
    spool = tmp_path / "data" / "spool"
    w = SegmentWriter(spool, "w")
    evs = [
        make_event(1, kind="file", status=302, project="six", version="1.16.0", source_id="aaaa"),
        make_event(2, kind="file", status=302, project="six", version="1.16.0", source_id="bbbb"),
        make_event(
            3, kind="file", status=302, project="six", version="1.16.0", source_id="aaaa", method="HEAD"
        ),
        make_event(4, kind="metadata", status=302, project="six", version="1.16.0", source_id="aaaa"),
        make_event(5, kind="index-project", status=200, project="six", source_id="aaaa"),
        make_event(6, kind="index-project", status=304, project="six", source_id="cccc", conditional=True),
        make_event(7, kind="file", status=404, project="six", source_id="cccc"),
    ]
    w.write(b"".join(frame(encode(e)) for e in evs))
    w.close()
    Loader(tmp_path / "data" / "pkgate.duckdb", spool).run_once()
    return cfg


def test_report_numbers(tmp_path: Path) -> None:
    cfg = seed(tmp_path)
    result = runner.invoke(app, ["report", "--config", cfg, "--format", "json", "--project", "SIX"])
    assert result.exit_code == 0, result.output
    rows = {(r["project"], r["version"]): r for r in json.loads(result.output)}
    v = rows[("six", "1.16.0")]
    assert (v["downloads"], v["head"], v["metadata"], v["sources"]) == (2, 1, 1, 2)
    p = rows[("six", None)]
    assert (p["index_hits"], p["not_modified"], p["failed"], p["sources"]) == (1, 1, 1, 2)
    csv_out = runner.invoke(app, ["report", "--config", cfg, "--format", "csv"]).output
    assert csv_out.splitlines()[0].startswith("project,version,downloads")
    assert "six" in runner.invoke(app, ["report", "--config", cfg]).output


def test_events_and_config_commands(tmp_path: Path) -> None:
    cfg = seed(tmp_path)
    events = json.loads(runner.invoke(app, ["events", "--config", cfg]).output)
    assert len(events) == 7
    assert {"id", "ts_us", "kind", "source_id", "installer"} <= set(events[0])
    shown = runner.invoke(app, ["config", "--config", cfg]).output
    assert "[storage]" in shown
    assert str(tmp_path / "data") in shown


def test_erase_now_and_later(tmp_path: Path) -> None:
    cfg = seed(tmp_path)
    result = runner.invoke(app, ["erase", "--config", cfg, "aaaa", "cccc"])
    assert result.exit_code == 0, result.output
    assert "erased 6 events of 2 source id(s)" in result.output
    events = json.loads(runner.invoke(app, ["events", "--config", cfg]).output)
    assert [e["source_id"] for e in events] == ["bbbb"]
    # a late event of an erased source, still in the spool, is dropped by the loader
    spool = tmp_path / "data" / "spool"
    w = SegmentWriter(spool, "late")
    w.write(frame(encode(make_event(8, source_id="aaaa"))) + frame(encode(make_event(9, source_id="dddd"))))
    w.close()
    Loader(tmp_path / "data" / "pkgate.duckdb", spool).run_once()
    events = json.loads(runner.invoke(app, ["events", "--config", cfg]).output)
    assert sorted(e["source_id"] for e in events) == ["bbbb", "dddd"]
    bad = runner.invoke(app, ["erase", "--config", cfg, "not-hex!"])
    assert bad.exit_code == 2
    assert "not a source id" in bad.output


def test_report_topics(tmp_path: Path) -> None:
    cfg = seed(tmp_path)
    for topic in (
        "downloads-daily",
        "downloads_daily",
        "uniques",
        "behaviour",
        "heavy-hitters",
        "adoption",
        "concentration",
        "first-seen",
    ):
        result = runner.invoke(app, ["report", topic, "--config", cfg, "--format", "json"])
        assert result.exit_code == 0, (topic, result.output)
        assert json.loads(result.output), topic
    by = runner.invoke(app, ["report", "breakdown", "--by", "installer", "--config", cfg, "--format", "json"])
    assert [(r["value"], r["downloads"]) for r in json.loads(by.output)] == [("pip", 2)]
    weekly = runner.invoke(
        app, ["report", "uniques", "--period", "week", "--level", "network", "--config", cfg]
    )
    assert "Unique sources" in weekly.output
    hh = json.loads(runner.invoke(app, ["report", "heavy-hitters", "--config", cfg, "-f", "json"]).output)
    assert sorted((r["source_id"], r["downloads"]) for r in hh) == [("aaaa", 1), ("bbbb", 1)]


def test_report_parquet_and_errors(tmp_path: Path) -> None:
    cfg = seed(tmp_path)
    out = tmp_path / "d.parquet"
    result = runner.invoke(
        app, ["report", "downloads-daily", "--config", cfg, "-f", "parquet", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).column("downloads").to_pylist() == [0, 2]
    for args, message in [
        (["report", "downloads-daily", "-f", "parquet"], "needs --output"),
        (["report", "nonsense"], "unknown report topic"),
        (["report", "breakdown"], "--by: required; one of installer"),
        (["report", "breakdown", "--by", "path"], "--by: expected one of installer"),
        (["report", "uniques", "--level", "host"], "--level: expected one of client, network, got 'host'"),
        (["report", "heavy-hitters", "--top", "0"], "--top: expected an integer 1..1000, got 0"),
        (["report", "heavy-hitters", "--max-file-per-day", "x"], "--max-file-per-day: expected an integer"),
        (["report", "adoption", "--period", "month"], "--period: expected one of day, week"),
        (["report", "downloads", "--top", "3"], "downloads does not take --top"),
        (["report", "downloads", "--ecosystem", "cargo"], "--ecosystem: expected one of python"),
        (
            ["report", "downloads", "--since", "2026-02-01", "--until", "2026-01-01"],
            "--since: must be before",
        ),
    ]:
        bad = runner.invoke(app, [*args, "--config", cfg])
        assert bad.exit_code == 2, args
        assert message in bad.output
        assert "Traceback" not in bad.output


def test_export(tmp_path: Path) -> None:
    cfg = seed(tmp_path)
    out = tmp_path / "events.parquet"
    result = runner.invoke(app, ["export", "--config", cfg, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "exported 7 events" in result.output
    assert pq.read_table(out).num_rows == 7
    csv_out = tmp_path / "e.csv"
    assert (
        runner.invoke(
            app, ["export", "--config", cfg, "-f", "csv", "-o", str(csv_out), "--project", "nope"]
        ).exit_code
        == 0
    )
    assert len(csv_out.read_text().splitlines()) == 1  # header only
    assert "--output" in runner.invoke(app, ["export", "--config", cfg]).output
    assert "--format" in runner.invoke(app, ["export", "--config", cfg, "-f", "xml", "-o", "x"]).output
