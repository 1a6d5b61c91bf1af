"""`pkgate demo`: a real gateway in front of a local upstream, driven by simulated clients."""

from pkgate.demo.driver import DEMO_CLOCK_HEADER, Player
from pkgate.demo.run import Demo, demo_clock_supported, find_wheels
from pkgate.demo.traffic import Visit, plan, user_agent
from pkgate.demo.upstream import StaticUpstream, build_index, read_dists

__all__ = [
    "DEMO_CLOCK_HEADER",
    "Demo",
    "Player",
    "StaticUpstream",
    "Visit",
    "build_index",
    "demo_clock_supported",
    "find_wheels",
    "plan",
    "read_dists",
    "user_agent",
]
