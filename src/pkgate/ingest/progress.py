"""How far each log was ingested: `<data_dir>/ingest/progress.json`, by log identity.

Written (atomically) only after the events up to that point are committed to the store, so a resume
never skips an uncommitted line; a crash between the commit and this write only means some lines are
read again, and their events, having the same ids, are not stored twice.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import msgspec

__all__ = ["Position", "ProgressFile"]

log = logging.getLogger("pkgate.ingest")


class Position(msgspec.Struct):
    offset: int  # decompressed byte offset of the next line to read
    line: int  # its line number (1-based)


class ProgressFile:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "ingest" / "progress.json"
        self._done: dict[str, Position] = {}
        try:
            self._done = msgspec.json.decode(self.path.read_bytes(), type=dict[str, Position])
        except FileNotFoundError:
            pass
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            # Only a speed-up: without it every line is read again and deduplicated by event id.
            log.warning("ignoring unreadable %s (%s): logs are read from the start", self.path, exc)

    def get(self, identity: bytes) -> Position | None:
        return self._done.get(identity.hex())

    def set(self, identity: bytes, position: Position) -> None:
        self._done[identity.hex()] = position
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".progress-{os.getpid()}.tmp")
        tmp.write_bytes(msgspec.json.encode(self._done))
        os.replace(tmp, self.path)
