"""A plain file cut into chunks by reference, without its lines being read: every byte in exactly
one chunk, each cut at a line end, and line numbers given as the results come back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pkgate.config import Config, Storage
from pkgate.errors import IngestError
from pkgate.ingest import reader, run
from pkgate.ingest.reader import open_log
from pkgate.ingest.run import Options, ingest


def _chunks_of(path: Path, chunk_bytes: int) -> list[reader.Chunk]:
    log = open_log(str(path))
    try:
        return list(log.references(chunk_bytes))
    finally:
        log.close()


lines = st.lists(
    st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")) | st.just(b"x" * 300), min_size=0, max_size=40
)


@settings(max_examples=200, deadline=None)
@given(lines=lines, chunk_bytes=st.integers(1, 120), unterminated=st.booleans(), max_line=st.integers(1, 200))
def test_chunks_cover_the_file_cut_at_line_ends(
    tmp_path_factory: pytest.TempPathFactory,
    lines: list[bytes],
    chunk_bytes: int,
    unterminated: bool,
    max_line: int,
) -> None:
    data = b"\n".join(lines) + (b"" if unterminated or not lines else b"\n")
    path = tmp_path_factory.mktemp("refs") / "access.log"
    path.write_bytes(b"first line\n" + data)  # the identity's first line, as a real log has one
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(reader, "MAX_LINE", max_line)
        chunks = _chunks_of(path, chunk_bytes)
    whole = path.read_bytes()
    at = 0
    for chunk in chunks:
        assert (chunk.offset, chunk.line, chunk.data) == (at, 0, b"")
        piece = whole[at : at + chunk.length]
        assert chunk.length > 0
        assert piece.endswith(b"\n") or at + chunk.length == len(whole)  # cut at a line end
        if b"\n" in piece[:-1]:  # several lines: within the chunk size
            assert chunk.length <= chunk_bytes
            assert not chunk.too_long
        else:  # one line: skipped when longer than MAX_LINE, never longer than needed
            assert chunk.too_long == (len(piece) > max_line and len(piece) > chunk_bytes)
        if not chunk.too_long:
            assert chunk.read() == piece
        at += chunk.length
    assert at == len(whole)


def _clf(ip: str, ts: float, path: str) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" 200 0 "-" "pip/24.2"\n'


def _numbered_log(tmp_path: Path, n: int, bad: set[int]) -> Path:
    now = time.time() - 3600
    text = "".join(
        "not a log line\n" if i in bad else _clf(f"192.0.2.{i % 200}", now + i * 0.01, f"/simple/p{i}/")
        for i in range(1, n + 1)
    )
    path = tmp_path / "access.log"
    path.write_text(text)
    return path


@pytest.mark.parametrize("jobs", [1, 2])
def test_strict_names_the_line_in_a_later_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    """Line numbers come from the order results return in (by reference) and from counting (one
    process): the same number either way, far from the first chunk."""
    monkeypatch.setattr(run, "WORK_BYTES", 3000)  # ~30 lines a chunk: line 2,345 is in chunk ~80
    path = _numbered_log(tmp_path, 3000, {2345, 2900})
    cfg = Config(storage=Storage(data_dir=str(tmp_path / f"data{jobs}")))
    with pytest.raises(IngestError, match=r"access\.log:2345: syntax"):
        ingest(cfg, [str(path)], Options(jobs=jobs, strict=True))
    again = ingest(cfg, [str(path)], Options(jobs=jobs))  # on from where --strict stopped
    assert again.skipped == 2344
    assert (again.lines, again.rejected) == (3000 - 2344, {"syntax": 2})
    assert again.stored == 3000 - 2344 - 2


def test_a_line_longer_than_a_chunk_is_skipped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run, "WORK_BYTES", 4000)
    path = _numbered_log(tmp_path, 300, set())
    text = path.read_bytes().split(b"\n")
    text[149] = b"x" * (reader.MAX_LINE + 50_000)  # line 150: longer than MAX_LINE: never held whole
    text[199] = b"y" * 5000  # line 200: longer than a chunk, not than MAX_LINE: a line like others
    path.write_bytes(b"\n".join(text))
    for jobs in (1, 2):
        cfg = Config(storage=Storage(data_dir=str(tmp_path / f"data{jobs}")))
        with pytest.raises(
            IngestError, match=rf"access\.log:150: too-long: longer than {reader.MAX_LINE} bytes"
        ):
            ingest(cfg, [str(path)], Options(jobs=jobs, strict=True))
        s = ingest(cfg, [str(path)], Options(jobs=jobs))
        assert (s.skipped, s.lines, s.stored) == (149, 151, 149), jobs
        assert s.rejected == {"too-long": 1, "syntax": 1}, jobs
