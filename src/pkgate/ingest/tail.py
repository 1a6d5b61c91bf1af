"""`pkgate tail FILE`: follow a growing log, for near-real-time reports.

Every `interval` the new complete lines go through the same pipeline as `ingest` and are committed
(an unterminated last line waits for its newline). Rotation is noticed both ways logrotate does it:
- rename (`access.log` -> `access.log.1`, a new `access.log`): the path names another inode; the old
  file is read to its end first, then the new one from its start;
- copytruncate: the file shrank below what was read, or its first line changed; lines written
  between the copy and the truncation are in the copy only (`pkgate ingest access.log.1` picks them
  up, and nothing is counted twice).
Progress is recorded as for `ingest`, so a restarted `tail` continues where it stopped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Final

from pkgate.config import Config
from pkgate.errors import IngestError
from pkgate.ingest.reader import LogInput, identity_of, open_log
from pkgate.ingest.run import Options, Runner, Summary

__all__ = ["tail"]

_HEAD: Final = 64 * 1024


def _first_line(path: Path) -> bytes | None:
    """The complete first line of the file at `path`, None while there is none."""
    try:
        with path.open("rb") as fh:
            head = fh.read(_HEAD)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IngestError(f"{path}: cannot read: {exc.strerror or exc}") from None
    nl = head.find(b"\n")
    return head[:nl] if nl >= 0 else (head if len(head) >= _HEAD else None)


def _replaced(path: Path, log: LogInput, inode: int) -> str | None:
    """'renamed', 'truncated' or None (still the file being read)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "renamed"
    if st.st_ino != inode:
        return "renamed"
    if st.st_size < log.raw_position():
        return "truncated"
    first = _first_line(path)
    if first is None or identity_of(first) != log.identity:
        return "truncated"
    return None


def tail(cfg: Config, path: str, opts: Options, stop: threading.Event, interval: float = 1.0) -> Summary:
    """Follow `path` until `stop` is set; returns the summary of everything ingested."""
    if path == "-":
        raise IngestError("tail follows a file; for a pipe use `pkgate ingest -`")
    file = Path(path)
    runner = Runner(cfg, opts, None)
    runner.store.for_input_read_once()  # tail reads each line once: no batch is ever read again
    try:
        while not stop.is_set():
            if _first_line(file) is None:  # not there yet, or no complete first line
                stop.wait(interval)
                continue
            log = open_log(path)
            try:
                if log.compression:
                    raise IngestError(
                        f"{path}: tail follows plain text logs; use `pkgate ingest` for compressed ones"
                    )
                _follow(runner, file, log, stop, interval)
            finally:
                log.close()
    finally:
        runner.close()
    return runner.summary


def _follow(runner: Runner, file: Path, log: LogInput, stop: threading.Event, interval: float) -> None:
    inode = os.fstat(log.stream.fileno()).st_ino
    parser, origin = runner.prepare(log)
    while True:
        runner.feed(log, parser, origin, log.chunks(final=False))
        why = _replaced(file, log, inode)
        if why == "renamed":
            # The old file may still get lines its writer had buffered: read it to the end.
            runner.feed(log, parser, origin, log.chunks(final=True))
            return
        if why == "truncated" or stop.is_set():
            return
        stop.wait(interval)
