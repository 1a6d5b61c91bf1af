"""fsutil: published files are whole for every reader, private, and the first creator wins."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from pkgate.fsutil import TMP_PREFIX, atomic_write, create_once


def test_atomic_write_replaces_and_is_private(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    atomic_write(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f"]  # no temporary left behind


def test_atomic_write_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")

    with pytest.raises(TypeError):
        atomic_write(target, 42)  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_create_once_first_writer_wins(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    assert create_once(target, b"first") == b"first"
    assert create_once(target, b"second") == b"first"
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def _reader(path: str, rounds: int, out: multiprocessing.Queue[int]) -> None:
    empty = 0
    p = Path(path)
    for _ in range(rounds):
        try:
            if p.read_bytes() == b"":
                empty += 1
        except FileNotFoundError:
            pass
    out.put(empty)


def test_concurrent_reader_never_sees_an_empty_file(tmp_path: Path) -> None:
    """The old load_secret created the name (O_EXCL) before writing: readers could see b''."""
    target = tmp_path / "secret"
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = ctx.Queue()
    reader = ctx.Process(target=_reader, args=(str(target), 20_000, out))
    reader.start()
    for i in range(300):
        create_once(target, b"x" * 4096)
        if i % 2:
            target.unlink()
    reader.join(60)
    assert out.get(timeout=5) == 0
