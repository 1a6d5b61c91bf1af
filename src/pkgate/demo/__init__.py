"""`pkgate demo`: a real gateway in front of a local upstream, driven by simulated clients.

Names are imported on first use, so `pkgate --help` does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pkgate.demo.clock import DEMO_CLOCK_HEADER
    from pkgate.demo.driver import Player
    from pkgate.demo.run import Demo, find_wheels
    from pkgate.demo.traffic import Visit, plan, user_agent
    from pkgate.demo.upstream import StaticUpstream, build_index, read_dists

__all__ = [
    "DEMO_CLOCK_HEADER",
    "Demo",
    "Player",
    "StaticUpstream",
    "Visit",
    "build_index",
    "find_wheels",
    "plan",
    "read_dists",
    "user_agent",
]

_HOME = {
    "DEMO_CLOCK_HEADER": "clock",
    "Player": "driver",
    "Demo": "run",
    "find_wheels": "run",
    "Visit": "traffic",
    "plan": "traffic",
    "user_agent": "traffic",
    "StaticUpstream": "upstream",
    "build_index": "upstream",
    "read_dists": "upstream",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"pkgate.demo.{_HOME[name]}"), name)
    raise AttributeError(f"module 'pkgate.demo' has no attribute {name!r}")
