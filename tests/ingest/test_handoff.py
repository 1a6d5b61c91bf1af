"""Worker processes read plain logs themselves and hand their tables back through shared memory:
the same events as one process makes, nothing left behind, no address in what is handed over."""

from __future__ import annotations

import gc
import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pkgate.config import Config, Storage
from pkgate.errors import IngestError
from pkgate.ingest import handoff, run
from pkgate.ingest.detect import detect
from pkgate.ingest.handoff import Handoff
from pkgate.ingest.reader import open_log
from pkgate.ingest.run import Options, ingest
from pkgate.ingest.work import Worker

_KEYED = ("id", "source_id", "network_id")  # keyed by the data dir's secrets: differ between stores


def _clf(ip: str, ts: float, path: str, ua: str) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" 200 0 "-" "{ua}"\n'


def _log(tmp_path: Path, lines: int) -> Path:
    now = time.time()
    body = "".join(
        _clf(
            f"192.0.2.{i % 37}",
            now - 7200 + i,
            f"/files/six-1.16.{i % 5}-py2.py3-none-any.whl" if i % 3 else f"/simple/pkg{i % 11}/",
            f"pip/24.{i % 4}",
        )
        for i in range(lines)
    )
    log = tmp_path / "access.log"
    log.write_text(body.removesuffix("\n"))  # an unterminated last line is a line too
    return log


def _rows(cfg: Config) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(cfg.paths.store), read_only=True)
    try:
        cur = con.execute("SELECT * FROM events ORDER BY ts, path")
        keep = [i for i, d in enumerate(cur.description) if d[0] not in _KEYED]
        return [tuple(r[i] for i in keep) for r in cur.fetchall()]
    finally:
        con.close()


def _ours() -> list[Path]:
    return list(handoff._base().glob(f"pkgate-ingest-{os.getpid()}-*"))


def test_workers_reading_the_file_make_the_events_one_process_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "WORK_BYTES", 2000)  # many chunks, read by reference
    log = _log(tmp_path, 600)
    one = Config(storage=Storage(data_dir=str(tmp_path / "one")))
    two = Config(storage=Storage(data_dir=str(tmp_path / "two")))
    s1 = ingest(one, [str(log)], Options(jobs=1))
    s2 = ingest(two, [str(log)], Options(jobs=2))
    assert (s1.lines, s1.stored) == (s2.lines, s2.stored) == (600, 600)
    assert _rows(one) == _rows(two)
    assert _ours() == []  # the run's handoff directory is gone


def test_a_file_that_changes_under_the_workers_is_an_error_not_wrong_events(tmp_path: Path) -> None:
    log = _log(tmp_path, 50)
    source = open_log(str(log))
    try:
        chunk = next(source.references(1 << 20))
    finally:
        source.close()
    assert chunk.data == b""
    assert chunk.read() == log.read_bytes()
    log.write_bytes(log.read_bytes()[:-100])  # truncated (copytruncate) after it was cut into chunks
    with pytest.raises(IngestError, match=r"access\.log: changed while it was ingested"):
        chunk.read()


def test_no_address_is_in_a_handed_off_table(tmp_path: Path) -> None:
    ips = ["203.0.113.77", "198.51.100.201", "2001:db8:5ca1::42"]
    now = time.time()
    text = "".join(_clf(ip, now - 60 + i, "/simple/six/", "pip/24.2") for i, ip in enumerate(ips))
    cfg = Config(storage=Storage(data_dir=str(tmp_path / "data")))
    log = tmp_path / "access.log"
    log.write_text(text)
    source = open_log(str(log))
    parser = detect(text.splitlines(), cfg.ingest.json_fields)
    worker = Worker(cfg, os.urandom(32), int(now * 1e6), False)
    box = Handoff()
    try:
        chunk = next(source.references())
        rows = worker.run(chunk, source.identity, parser, "log:x").rows
        assert rows is not None
        assert rows.events.num_rows == 3
        data = (box.dir / box.put(rows)).read_bytes()
        for ip in ips:
            addr = ipaddress.ip_address(ip)
            for needle in (ip.encode(), addr.packed, str(int(addr)).encode()):
                assert needle not in data, (ip, needle)
    finally:
        worker.close()
        source.close()
        box.close()
    assert not box.dir.exists()


def test_a_table_is_taken_once_and_its_file_is_gone(tmp_path: Path) -> None:
    log = _log(tmp_path, 20)
    cfg = Config(storage=Storage(data_dir=str(tmp_path / "data")))
    source = open_log(str(log))
    worker = Worker(cfg, os.urandom(32), int(time.time() * 1e6), False)
    box = Handoff()
    try:
        rows = worker.run(next(source.chunks()), source.identity, detect([log.read_text()], {}), "log:x").rows
        assert rows is not None
        name = box.put(rows)
        taken = box.take(name)
        assert not (box.dir / name).exists()  # unlinked once mapped; the tables still read
        assert taken.events.equals(rows.events)
        assert taken.agents.equals(rows.agents)
        assert taken.events.num_rows == 20
        assert taken.agents.num_rows == 4  # pip/24.0 to pip/24.3
    finally:
        worker.close()
        source.close()
        box.close()


def test_a_killed_ingests_directory_is_removed_by_the_next(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    pid = int(dead.stdout)
    assert not Path(f"/proc/{pid}").exists()
    left = handoff._base() / f"pkgate-ingest-{pid}-leftover"
    left.mkdir()
    (left / "1-1").write_bytes(b"table")
    mine = Handoff()
    try:
        assert not left.exists()
        assert mine.dir.exists()
        Handoff().close()  # another live ingest's start leaves this one's directory alone
        assert mine.dir.exists()
    finally:
        mine.close()


def test_a_table_that_cannot_be_handed_over_goes_through_the_pipe(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`/dev/shm` full or gone: the chunk's table comes back in the result itself, not lost."""
    from pkgate.ingest import work

    log = _log(tmp_path, 30)
    cfg = Config(storage=Storage(data_dir=str(tmp_path / "data")))
    box = Handoff()
    box.close()  # its directory is gone: every write fails
    thresholds = gc.get_threshold()
    work.init_process(cfg, os.urandom(32), int(time.time() * 1e6), False, box)
    source = open_log(str(log))
    try:
        assert gc.get_threshold() == work.GC_THRESHOLDS  # a worker process's, as it is set up
        with caplog.at_level("WARNING", logger="pkgate.ingest"):
            result = work.run_in_process(
                next(source.chunks()), source.identity, detect([log.read_text()], {}), "log:x"
            )
        assert result.handed_off is None
        assert result.rows is not None
        assert result.rows.events.num_rows == 30
        assert "through the pipe" in caplog.text
    finally:
        source.close()
        assert work._worker is not None
        work._worker.close()
        work._worker = work._handoff = None
        gc.set_threshold(*thresholds)
