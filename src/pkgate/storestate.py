"""What happened to the store, in a small file beside it: the one thing the edge may read about it.

The store's recovery (pkgate.store.rebuild) writes `<data_dir>/store-state.json` when it moves a
store that failed to open aside and rebuilds it; `/healthz` and `/metrics` read it (the edge never
imports the store, tests/test_layers.py). A missing or unreadable file means "nothing happened".
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import msgspec

from pkgate.fsutil import atomic_write

FILE: Final = "store-state.json"


class StoreState(msgspec.Struct, frozen=True, kw_only=True):
    rebuilds: int = 0  # stores moved aside and rebuilt in this data_dir, ever
    rebuilding: bool = False  # a rebuild is running now
    last_at: str = ""  # UTC ISO time of the last move-aside
    moved_to: str = ""  # where the last failed store was moved (never deleted)
    reason: str = ""  # why it failed to open


def read_state(data_dir: Path) -> StoreState:
    try:
        return msgspec.json.decode((data_dir / FILE).read_bytes(), type=StoreState)
    except (OSError, msgspec.DecodeError):
        return StoreState()


def write_state(data_dir: Path, state: StoreState) -> None:
    atomic_write(data_dir / FILE, msgspec.json.encode(state), mode=0o644)
