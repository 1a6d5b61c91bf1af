"""`ingest` into a real store: events as the gateway makes them, exactly once, resumable, private."""

from __future__ import annotations

import bz2
import gzip
import ipaddress
import json
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
import zstandard

from pkgate.config import Config, Storage
from pkgate.enrich.geo import Enricher
from pkgate.errors import IngestError
from pkgate.ingest.run import Options, Summary, ingest
from pkgate.store.aggregates import DOWNLOAD

SAMPLES = Path(__file__).parent / "samples"
DAY = 86_400


def _cfg(tmp_path: Path) -> Config:
    return Config(storage=Storage(data_dir=str(tmp_path / "data")))


def _rows(cfg: Config, where: str = "true") -> list[dict[str, Any]]:
    con = duckdb.connect(str(cfg.data_dir / "pkgate.duckdb"), read_only=True)
    try:
        cur = con.execute(f"SELECT * FROM events WHERE {where} ORDER BY ts, path")  # noqa: S608
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _clf(ip: str, ts: float, path: str, status: int = 302, ua: str = "pip/24.2") -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} 0 "-" "{ua}"\n'


def test_samples_become_gateway_like_events(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    s = ingest(cfg, [str(SAMPLES / "apache-combined.log")], Options(jobs=1, name="web1"))
    assert (s.lines, s.events, s.stored, s.rejected) == (6, 6, 6, {})
    rows = _rows(cfg)
    got = [(r["kind"], r["ecosystem"], r["project"], r["version"], r["status"], r["partial"]) for r in rows]
    assert got == [
        ("index-project", "python", "six", None, 200, False),
        ("file", "python", "six", "1.16.0", 302, False),  # served 200 = the gateway's redirect
        ("file", "python", "six", "1.16.0", 302, True),  # 206: a ranged read, not a download
        ("file", "files", "mytool", "1.4.0", 302, False),
        ("file", "npm", "left-pad", "1.3.0", 302, False),
        ("other", "gateway", None, None, 404, False),  # no ecosystem's path: the gateway's own 404
    ]
    assert {r["origin"] for r in rows} == {"log:web1"}
    assert rows[0]["installer"] == "pip"
    assert rows[0]["python"] == "3.10.12"
    assert rows[0]["source_id"] == rows[1]["source_id"] != rows[2]["source_id"]
    assert rows[0]["network_id"] == rows[2]["network_id"]  # same /24


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_sample_format_ingests(tmp_path: Path, jobs: int) -> None:
    cfg = _cfg(tmp_path)
    files = sorted(str(p) for p in SAMPLES.iterdir())
    s = ingest(cfg, files, Options(jobs=jobs))
    assert s.files == 6
    assert s.rejected == {"request": 1}  # the TLS handshake in the nginx sample
    assert s.stored == s.events == 26
    origins = {r["origin"] for r in _rows(cfg)}
    assert origins == {"log:combined", "log:nginx-json", "log:cloudfront", "log:cloudflare", "log:json"}


def test_twice_compressed_or_from_start_adds_nothing(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    plain = tmp_path / "access.log"
    plain.write_bytes((SAMPLES / "nginx-combined.log").read_bytes())
    first = ingest(cfg, [str(plain)], Options(jobs=1))
    assert first.stored == 7
    for name, data in [
        ("access.log.1.gz", gzip.compress(plain.read_bytes())),
        ("access.log.2.bz2", bz2.compress(plain.read_bytes())),
        ("access.log.3.zst", zstandard.ZstdCompressor().compress(plain.read_bytes())),
    ]:
        packed = tmp_path / name
        packed.write_bytes(data)
        again = ingest(cfg, [str(packed)], Options(jobs=1))
        assert (again.lines, again.skipped, again.stored) == (0, 8, 0)
        forced = ingest(cfg, [str(packed)], Options(jobs=2, from_start=True))
        assert (forced.lines, forced.events, forced.stored, forced.duplicates) == (8, 7, 0, 7)
    assert len(_rows(cfg)) == 7


def test_interrupted_ingest_continues_where_it_stopped(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    now = time.time()
    lines = [
        _clf(f"192.0.2.{i % 50}", now - 3600 + i, f"/files/six-1.16.0-py2.py3-none-any.whl?{i}")
        for i in range(300)
    ]
    log = tmp_path / "growing.log"
    log.write_text("".join(lines[:120]))
    assert ingest(cfg, [str(log)], Options(jobs=1)).stored == 120
    log.write_text("".join(lines))  # the log grew (or the first run was killed after 120 lines)
    s = ingest(cfg, [str(log)], Options(jobs=1))
    assert (s.skipped, s.lines, s.stored) == (120, 180, 180)
    assert len(_rows(cfg)) == 300


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_log_partly_stored_stores_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """Events already in the store, with no progress recorded (`--from-start`, a lost progress
    file), are met in the middle of a batch of many chunks: that batch is done again with the
    conflict check, and every event is stored once."""
    from pkgate.ingest import batch, run

    monkeypatch.setattr(run, "WORK_BYTES", 1500)  # many chunks, so tables, in each store batch
    monkeypatch.setattr(batch, "BATCH_ROWS", 100)  # and several batches
    cfg = _cfg(tmp_path)
    now = time.time()
    lines = [
        _clf(f"192.0.2.{i % 50}", now - 3600 + i, f"/files/six-1.16.0-py2.py3-none-any.whl?{i}")
        for i in range(400)
    ]
    log = tmp_path / "access.log"
    log.write_text("".join(lines[150:230]))  # another log whose lines are the same requests
    # (ids come from the log's identity, so this one's events are its own: none shared yet)
    assert ingest(cfg, [str(log)], Options(jobs=jobs)).stored == 80
    log.write_text("".join(lines[:120]))
    assert ingest(cfg, [str(log)], Options(jobs=jobs)).stored == 120
    log.write_text("".join(lines))
    s = ingest(cfg, [str(log)], Options(jobs=jobs, from_start=True))
    assert (s.lines, s.events, s.stored, s.duplicates) == (400, 400, 280, 120)
    assert len(_rows(cfg)) == 480


def test_strict_stops_at_the_first_bad_line(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    now = time.time()
    log = tmp_path / "bad.log"
    log.write_text(
        _clf("192.0.2.1", now - 10, "/simple/six/", 200)
        + "not a log line\n"
        + _clf("192.0.2.1", now - 5, "/simple/", 200)
    )
    with pytest.raises(IngestError, match=r"bad\.log:2: syntax"):
        ingest(cfg, [str(log)], Options(jobs=1, strict=True))
    assert [r["path"] for r in _rows(cfg)] == ["/simple/six/"]
    lenient = ingest(cfg, [str(log)], Options(jobs=1, from_start=True))
    assert lenient.rejected == {"syntax": 1}
    assert lenient.stored == 1


def test_hostile_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    now = time.time()
    good = _clf("192.0.2.1", now - 10, "/simple/six/", 200).encode()
    log = tmp_path / "hostile.log"
    log.write_bytes(
        good
        + b'192.0.2.1 - - [01/Dec/2026:09:15:02 +0000] "GET /\xff\xfe HTTP/1.1" 200 0 "-" "\xc3\x28"\n'
        + b"\x00\x01\x02\n"
        + b"x" * (1 << 20 | 10)
        + b"\n"  # longer than MAX_LINE: skipped without being held
        + _clf("192.0.2.1", now + 10 * DAY, "/simple/six/", 200).encode()  # a wrong clock
        + good.replace(b"200", b"999")
        + good
    )
    s = ingest(cfg, [str(log)], Options(jobs=1))
    assert s.rejected == {"syntax": 1, "too-long": 1, "future": 1, "status": 1}
    # The same line twice is two requests (same second, same client): two events.
    assert s.stored == 3
    assert s.duplicates == 0
    assert s.lines == 7
    assert any("\ufffd" in r["path"] for r in _rows(cfg))


def _needles(ips: list[str]) -> list[bytes]:
    out = []
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        out += [ip.encode(), addr.packed]
    return out


def test_no_address_reaches_the_store_and_old_days_get_their_own_key(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    now = time.time()
    today_ip, old_ip = "203.0.113.77", "198.51.100.88"
    old = now - 10 * DAY
    log = tmp_path / "mixed.log"
    body = "".join(
        [_clf(today_ip, now - 60, "/simple/six/", 200), _clf(today_ip, now - 50, "/files/six-1.16.0.tar.gz")]
        + [_clf(old_ip, old + i, f"/simple/six/?{i}", 200) for i in range(2000)]
    )
    log.write_text(body)
    s = ingest(cfg, [str(log)], Options(jobs=2))
    assert s.stored == 2002
    rows = _rows(cfg)
    today = [r for r in rows if r["ts"].timestamp() > now - 3600]
    olds = [r for r in rows if r["ts"].timestamp() < now - 3600]
    # Today's ids are the gateway's: they join with its events of the same client.
    gateway = Enricher(cfg.data_dir).facts(today_ip, int((now - 60) * 1e6))
    assert {r["source_id"] for r in today} == {gateway.source_id}
    # An old day: one id for one client across both worker processes, but not the one a key file
    # for that day would give, and no key file for it was created.
    assert len({r["source_id"] for r in olds}) == 1
    day_name = time.strftime("%Y-%m-%d", time.gmtime(old))
    assert not (cfg.data_dir / "keys" / f"{day_name}.key").exists()
    assert sorted(p.name for p in (cfg.data_dir / "keys").iterdir()) == [
        time.strftime("%Y-%m-%d.key", time.gmtime(now))
    ]
    # The log holds the addresses; nothing pkgate wrote does.
    assert today_ip.encode() in log.read_bytes()
    for path in cfg.data_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [n for n in _needles([today_ip, old_ip]) if n in data], path


def test_summary_counts_add_up(tmp_path: Path) -> None:
    s = Summary(lines=10, events=8, stored=5, seconds=2.0)
    assert (s.duplicates, s.rate) == (3, 5.0)


def test_addresses_written_into_agents_and_paths_are_redacted(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    now = time.time()
    log = tmp_path / "redact.log"
    log.write_text(
        _clf("192.0.2.1", now - 5, "/simple/10.20.30.40/", 200, ua="curl/8.5.0 (via 198.51.100.9)")
    )
    assert ingest(cfg, [str(log)], Options(jobs=1)).stored == 1
    (row,) = _rows(cfg)
    assert (row["path"], row["user_agent"]) == ("/simple/[ip]/", "curl/8.5.0 (via [ip])")


def test_a_store_that_refuses_the_rows_is_a_clear_error(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cfg.data_dir.mkdir()
    con = duckdb.connect(str(cfg.paths.store))
    con.execute("CREATE TABLE event_rows (id INTEGER PRIMARY KEY, ts TIMESTAMPTZ)")  # not pkgate's schema
    con.close()
    with pytest.raises(IngestError, match="cannot store events"):
        ingest(cfg, [str(SAMPLES / "apache-combined.log")], Options(jobs=1))
    assert not (cfg.data_dir / "ingest" / "progress.json").exists()  # a rerun starts from the top


def _nginx_json(ts: float, method: str, uri: str, status: int, command: str = "") -> str:
    obj = {
        "msec": ts,
        "remote_addr": "198.51.100.7",
        "request_method": method,
        "request_uri": uri,
        "status": status,
        "http_user_agent": "npm/10.8.2 node/v20.18.0 linux x64 workspaces/false",
        "http_npm_command": command,
    }
    return json.dumps(obj) + "\n"


def test_a_registrys_own_log_reads_as_the_gateway_would_record_it(tmp_path: Path) -> None:
    """npm, conda and image registries logging what they served themselves (nginx JSON)."""
    cfg = _cfg(tmp_path)
    blob, image = "sha256:" + "b1" * 32, "sha256:" + "e2" * 32
    now = time.time() - 600
    lines = [
        _nginx_json(now, "GET", "/@types%2fnode", 200, "install"),
        _nginx_json(now + 1, "GET", "/@types/node/-/node-22.10.1.tgz", 200, "install"),
        _nginx_json(now + 2, "GET", "/conda-forge/linux-64/repodata.json.zst", 200),
        _nginx_json(now + 3, "GET", "/conda-forge/noarch/tzdata-2024a-h0c530f3_0.conda", 200),
        _nginx_json(now + 4, "HEAD", "/v2/library/alpine/manifests/3.20", 200),
        _nginx_json(now + 5, "GET", f"/v2/library/alpine/manifests/{image}", 200),
        _nginx_json(now + 6, "GET", f"/v2/library/alpine/blobs/{blob}", 200),
        _nginx_json(now + 7, "GET", f"/v2/library/alpine/manifests/{image}?x=1", 404),
    ]
    log = tmp_path / "registry.json"
    log.write_text("".join(lines))
    s = ingest(cfg, [str(log)], Options(jobs=1, strict=True))
    assert (s.events, s.rejected) == (8, {})
    got = [
        (
            r["kind"],
            r["ecosystem"],
            r["project"],
            r["version"],
            r["platform"],
            r["digest"],
            r["status"],
            r["command"],
        )
        for r in _rows(cfg)
    ]
    assert got == [
        ("index-project", "npm", "@types/node", None, None, None, 200, "install"),
        ("file", "npm", "@types/node", "22.10.1", None, None, 302, "install"),  # sent = redirected
        ("index-root", "conda", None, None, "linux-64", None, 200, None),
        ("file", "conda", "tzdata", "2024a", "noarch", None, 302, None),
        ("manifest", "oci", "library/alpine", "3.20", None, None, 200, None),  # a check, not a pull
        ("manifest", "oci", "library/alpine", None, None, image, 200, None),  # a pull stays 200
        ("blob", "oci", "library/alpine", None, None, blob, 307, None),  # the registry's redirect
        ("manifest", "oci", "library/alpine", None, None, None, 404, None),  # no digest answered
    ]
    downloads = [r["path"] for r in _rows(cfg, DOWNLOAD)]
    assert downloads == [
        "/@types/node/-/node-22.10.1.tgz",
        "/conda-forge/noarch/tzdata-2024a-h0c530f3_0.conda",
        f"/v2/library/alpine/manifests/{image}",
    ]


def test_a_store_that_outgrows_the_memory_limit_still_takes_every_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ingest caps DuckDB's memory (`batch.MEMORY_LIMIT`); a batch that needs more is read again
    and stored without the cap, with a warning: nothing is lost, nothing counted twice, nothing
    fails."""
    from pkgate.ingest import batch, run

    monkeypatch.setattr(run, "WORK_BYTES", 20_000)  # the batch fails after some chunks went in

    cfg = _cfg(tmp_path)
    log = tmp_path / "access.log"
    now = time.time() - 3600
    log.write_text(
        "".join(_clf(f"198.51.100.{i % 200 + 1}", now + i, f"/simple/p{i}/", 200) for i in range(3000))
    )
    monkeypatch.setattr(batch, "MEMORY_LIMIT", 1 << 20)  # far below what an insert of 3,000 rows needs
    with caplog.at_level("WARNING", logger="pkgate.ingest"):
        done = ingest(cfg, [str(log)], Options(jobs=1))
    assert (done.files, done.lines, done.events, done.stored) == (1, 3000, 3000, 3000)
    assert len(_rows(cfg)) == 3000
    assert "going on without a limit" in caplog.text


@pytest.mark.parametrize("jobs", [1, 2])
def test_event_ids_are_the_logs_identity_offset_and_request_hashed(tmp_path: Path, jobs: int) -> None:
    """An event's id is BLAKE2b-128 of the log's identity, the line's offset (8 bytes, little
    endian) and `ts method target status agent`, whichever way the line was read: ids made by any
    pkgate version must be the same for a log ingested again to add nothing."""
    import datetime as dt
    import hashlib
    import uuid

    from pkgate.ingest.reader import open_log

    when = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    lines = [  # a plain line, one with an escaped quote (read the long way), a HEAD
        f'192.0.2.1 - - [{stamp}] "GET /simple/six/ HTTP/1.1" 200 5 "-" "pip/24.2"\n',
        f'192.0.2.2 - - [{stamp}] "GET /packages/six-1.16.0-py2.py3-none-any.whl?x=1 HTTP/1.1" 200 9 "-" "curl \\"x\\""\n',
        f'192.0.2.3 - - [{stamp}] "HEAD /simple/six/ HTTP/1.1" 304 0 "-" "uv/0.4.0"\n',
    ]
    log = tmp_path / "access.log"
    log.write_text("".join(lines))
    opened = open_log(str(log))
    identity = opened.identity
    opened.close()
    ts_us = int(when.timestamp()) * 1_000_000
    messages = [
        f"{ts_us} GET /simple/six/ 200 pip/24.2",
        f'{ts_us} GET /packages/six-1.16.0-py2.py3-none-any.whl?x=1 200 curl "x"',
        f"{ts_us} HEAD /simple/six/ 304 uv/0.4.0",
    ]
    offsets = [0, len(lines[0]), len(lines[0]) + len(lines[1])]
    want = {
        str(
            uuid.UUID(
                bytes=hashlib.blake2b(
                    identity + o.to_bytes(8, "little") + m.encode(), digest_size=16
                ).digest()
            )
        )
        for o, m in zip(offsets, messages, strict=True)
    }
    cfg = _cfg(tmp_path)
    assert ingest(cfg, [str(log)], Options(jobs=jobs)).stored == 3
    assert {str(r["id"]) for r in _rows(cfg)} == want


@pytest.mark.parametrize("jobs", [1, 2])
def test_agents_that_differ_only_in_a_redacted_address_are_one_agent(tmp_path: Path, jobs: int) -> None:
    """Two logged User-Agents that are stored alike (an address in them becomes `[ip]`) are one row
    of `agents`, named by both events."""
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(time.time() - 3600))
    log = tmp_path / "access.log"
    log.write_text(
        "".join(
            f'192.0.2.{i} - - [{stamp}] "GET /simple/six/ HTTP/1.1" 200 5 "-" "curl/8.5.0 (10.1.2.{i})"\n'
            for i in (1, 2)
        )
    )
    cfg = _cfg(tmp_path)
    assert ingest(cfg, [str(log)], Options(jobs=jobs)).stored == 2
    con = duckdb.connect(str(cfg.paths.store), read_only=True)
    try:
        assert con.execute("SELECT user_agent, count(*) FROM events GROUP BY ALL").fetchall() == [
            ("curl/8.5.0 ([ip])", 2)
        ]
        assert con.execute("SELECT count(*) FROM agents").fetchone() == (1,)
    finally:
        con.close()
