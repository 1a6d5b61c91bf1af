"""Events: the schema of a recorded request and how it travels durably (spool, NATS)."""

from pkgate.events.model import KINDS, Event, decode, encode, new_id, now_us

__all__ = ["KINDS", "Event", "decode", "encode", "new_id", "now_us"]
